"""Avro single-object encoding (Avro spec, "Single object encoding") with fastavro.

Wire format of every value on our topics::

    0xC3 0x01 | 8-byte CRC-64-AVRO fingerprint of the writer schema (little-endian) | Avro binary body

so any Avro library can find the writer schema from the payload alone; the schemas themselves are
published to the compacted ``its.schemas.v1`` topic keyed by fingerprint (``itscam topics apply``).
"""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint as _fingerprint
from fastavro.schema import to_parsing_canonical_form

from schemas.errors import SchemaError, UnknownSchemaError

__all__ = [
    "MAGIC",
    "Codec",
    "codec",
    "decode_any",
    "history_files",
    "schema_files",
]

MAGIC = b"\xc3\x01"
_HEADER_LEN = len(MAGIC) + 8

#: schema name -> file in schemas/avro/
_FILES = {
    "FrameCaptured": "frame_captured.avsc",
    "DetectionsProduced": "detections_produced.avsc",
    "DeadLetter": "dead_letter.avsc",
    "CameraConfig": "camera_config.avsc",
    "CameraStatusChanged": "camera_status_changed.avsc",
    "VehicleCounted": "vehicle_counted.avsc",
    "IncidentDetected": "incident_detected.avsc",
    "TrafficStatsWindow": "traffic_stats_window.avsc",
    "TurningMovement": "turning_movement.avsc",
}


def schema_files() -> dict[str, str]:
    """Schema name -> JSON text of its `.avsc`, as shipped in the package."""
    root = resources.files("schemas") / "avro"
    return {name: (root / fname).read_text(encoding="utf-8") for name, fname in _FILES.items()}


def history_files() -> dict[str, list[str]]:
    """Schema name -> JSON texts of its earlier versions (`avro/history/<file stem>.<fingerprint>.avsc`), still
    readable: their payloads decode into the current record, new fields taking their defaults."""
    root = resources.files("schemas") / "avro" / "history"
    out: dict[str, list[str]] = {}
    for name, fname in _FILES.items():
        stem = fname.removesuffix(".avsc")
        out[name] = [
            f.read_text(encoding="utf-8")
            for f in sorted(root.iterdir(), key=lambda f: f.name)
            if f.name.startswith(stem + ".") and f.name.endswith(".avsc")
        ]
    return out


class Codec:
    """Encoder/decoder for one writer schema (`reader`: the current schema an older writer's records resolve to)."""

    def __init__(self, name: str, schema_json: str, reader: Any = None) -> None:
        self.name = name
        self.schema_json = schema_json
        self.parsed = fastavro.parse_schema(json.loads(schema_json))
        self.reader = reader
        self.canonical = to_parsing_canonical_form(self.parsed)
        self.fingerprint = bytes.fromhex(_fingerprint(self.canonical, "CRC-64-AVRO"))
        self._header = MAGIC + self.fingerprint

    def encode(self, record: Any) -> bytes:
        buf = io.BytesIO()
        buf.write(self._header)
        try:
            fastavro.schemaless_writer(buf, self.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise SchemaError(
                f"Record does not match Avro schema its.v1.{self.name}: {e}. "
                f"Fix the producer so every field of schemas/avro/{_FILES[self.name]} is set with its type."
            ) from e
        return buf.getvalue()

    def decode(self, payload: bytes) -> Any:
        name, record = decode_any(payload)
        if name != self.name:
            raise SchemaError(f"Expected an its.v1.{self.name} payload, found its.v1.{name}.")
        return record


@cache
def _registry() -> dict[bytes, Codec]:
    current = {name: Codec(name, text) for name, text in schema_files().items()}
    old = [Codec(n, text, current[n].parsed) for n, texts in history_files().items() for text in texts]
    return {c.fingerprint: c for c in [*old, *current.values()]}


@cache
def codec(name: str) -> Codec:
    """The codec of a schema by record name, e.g. ``codec("FrameCaptured")``."""
    for c in _registry().values():
        if c.name == name and c.reader is None:
            return c
    raise UnknownSchemaError(f"No Avro schema named {name!r}; known: {sorted(_FILES)}.")


def decode_any(payload: bytes | None) -> tuple[str, Any]:
    """Decode a single-object-encoded payload of any schema we know: returns (schema name, record)."""
    if payload is None or len(payload) < _HEADER_LEN or payload[:2] != MAGIC:
        head = b"" if payload is None else payload[:4]
        raise SchemaError(
            f"Payload is not Avro single-object encoded: expected it to start with 0xC3 0x01 and an "
            f"8-byte fingerprint, found {head!r} ({0 if payload is None else len(payload)} bytes). "
            "Produce with schemas.serde.codec(name).encode(record)."
        )
    fp = bytes(payload[2:_HEADER_LEN])
    c = _registry().get(fp)
    if c is None:
        raise UnknownSchemaError(
            f"Unknown writer schema fingerprint {fp.hex()}: it is not one of {sorted(_FILES)}. "
            "Look it up in the its.schemas.v1 topic, or upgrade this consumer."
        )
    try:
        record = fastavro.schemaless_reader(io.BytesIO(payload[_HEADER_LEN:]), c.parsed, c.reader)
    except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError, OverflowError) as e:
        raise SchemaError(f"Corrupt its.v1.{c.name} body ({len(payload)} bytes): {e!r}.") from e
    return c.name, record
