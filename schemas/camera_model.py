"""The CameraConfig contract as typed pydantic models: what `schemas.cameras` validates records with, the API's
camera command bodies (and the OpenAPI components generated from them) and the CLI's choices.

Field names, defaults and descriptions are read from `avro/camera_config.avsc`, the record's one source of truth;
the enum symbols are spelled out as `Literal`s so type checkers see them, and `tests/schemas/test_camera_model.py`
fails when they (or any field, type or default) disagree with the `.avsc`. The value ranges live only here.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError, PydanticUndefined

from schemas.serde import schema_files

__all__ = [
    "CAMERA_ID_PATTERN",
    "DECODE_MODES",
    "LINE_DIRECTIONS",
    "MAX_ITEMS",
    "PROTOCOLS",
    "Calibration",
    "CameraConfig",
    "CameraConfigBody",
    "CameraProtocol",
    "CountingLine",
    "DecodeMode",
    "LineDirection",
    "NormalisedPoint",
    "Point",
    "Zone",
    "avro_records",
    "is_camera_id",
]

CameraProtocol = Literal["AUTO", "RTSP_TCP", "RTSP_UDP", "HTTP_MJPEG", "HLS", "WHEP", "FILE", "FFMPEG"]
DecodeMode = Literal["AUTO", "ALL", "KEYFRAMES"]
LineDirection = Literal["LEFT_TO_RIGHT", "RIGHT_TO_LEFT"]
PROTOCOLS: tuple[str, ...] = get_args(CameraProtocol)
DECODE_MODES: tuple[str, ...] = get_args(DecodeMode)
LINE_DIRECTIONS: tuple[str, ...] = get_args(LineDirection)

#: a camera id is the Kafka key and a URL path segment
CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_CAMERA_ID = re.compile(CAMERA_ID_PATTERN)
#: the most lines, zones or zone points one camera may have
MAX_ITEMS = 1000


def is_camera_id(value: str) -> bool:
    """Whether `value` follows the camera id grammar (the whole string: no trailing newline)."""
    return _CAMERA_ID.fullmatch(value) is not None


@cache
def avro_records() -> dict[str, dict[str, Any]]:
    """Every record of camera_config.avsc by name: its fields by name, and the record itself under ""."""
    out: dict[str, dict[str, Any]] = {}

    def walk(t: Any) -> None:
        if isinstance(t, list):
            for u in t:
                walk(u)
        elif isinstance(t, dict):
            if t.get("type") == "record":
                # "" holds the record itself (no Avro field has an empty name)
                out[t["name"]] = {"": t} | {f["name"]: f for f in t["fields"]}
                for f in t["fields"]:
                    walk(f["type"])
            elif t.get("type") == "array":
                walk(t["items"])

    walk(json.loads(schema_files()["CameraConfig"]))
    return out


def _record_doc(record: str) -> str:
    doc: str = avro_records()[record][""]["doc"]
    return doc


def _avro(record: str, name: str, **constraints: Any) -> Any:
    """A Field with the `.avsc` field's default (none: required) and doc, plus our range `constraints`."""
    f = avro_records()[record][name]
    doc = f.get("doc") or (f["type"].get("doc") if isinstance(f["type"], dict) else None)  # an enum's own doc
    return Field(f.get("default", PydanticUndefined), description=doc, **constraints)


def _text(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("text_nul", "must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise PydanticCustomError("text_unicode", "must be valid Unicode text (no lone surrogates)") from None
    return value


#: an Avro string: text Avro (UTF-8) and PostgreSQL can store
Text = Annotated[str, AfterValidator(_text)]
#: a normalised image coordinate (x / width or y / height)
Unit = Annotated[float, Field(ge=0, le=1)]


class _Record(BaseModel):
    # strict: JSON gives no coercion ("5" is not 5, true is not 1); ints are accepted where Avro has a double
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class Point(_Record):
    """A point: normalised image coordinates, or metres on the ground (calibration.ground_points)."""

    x: float = _avro("Point", "x")
    y: float = _avro("Point", "y")


class NormalisedPoint(Point):
    """A Point in normalised image coordinates (0..1, origin top-left)."""

    x: Unit = _avro("Point", "x")
    y: Unit = _avro("Point", "y")


class CountingLine(_Record):
    model_config = ConfigDict(json_schema_extra={"description": _record_doc("CountingLine")})

    line_id: Text = _avro("CountingLine", "line_id")
    name: Text = _avro("CountingLine", "name")
    x1: Unit = _avro("CountingLine", "x1")
    y1: Unit = _avro("CountingLine", "y1")
    x2: Unit = _avro("CountingLine", "x2")
    y2: Unit = _avro("CountingLine", "y2")
    in_direction: LineDirection = _avro("CountingLine", "in_direction")
    one_way: bool = _avro("CountingLine", "one_way")


class Zone(_Record):
    model_config = ConfigDict(json_schema_extra={"description": _record_doc("Zone")})

    zone_id: Text = _avro("Zone", "zone_id")
    name: Text = _avro("Zone", "name")
    kind: Text = _avro("Zone", "kind")
    points: list[NormalisedPoint] = _avro("Zone", "points", min_length=3, max_length=MAX_ITEMS)


class Calibration(_Record):
    model_config = ConfigDict(json_schema_extra={"description": _record_doc("Calibration")})

    image_points: list[Point] = _avro("Calibration", "image_points", min_length=4, max_length=4)
    ground_points: list[Point] = _avro("Calibration", "ground_points", min_length=4, max_length=4)


class CameraConfigBody(_Record):
    """A camera's configuration; fields left out take their defaults."""

    camera_id: str = _avro("CameraConfig", "camera_id", pattern=CAMERA_ID_PATTERN)
    name: Text = _avro("CameraConfig", "name")
    source_url: Text = _avro("CameraConfig", "source_url", min_length=1, pattern=r"\S")
    source_secret: str | None = _avro(
        "CameraConfig", "source_secret", max_length=8192, json_schema_extra={"readOnly": True}
    )  # set by the writers from source_url (schemas/credentials.py), refused in API bodies
    protocol: CameraProtocol = _avro("CameraConfig", "protocol")
    target_fps: float = _avro("CameraConfig", "target_fps", gt=0, le=60)
    max_width: int = _avro("CameraConfig", "max_width", ge=0, le=16384)
    max_height: int = _avro("CameraConfig", "max_height", ge=0, le=16384)
    jpeg_quality: int = _avro("CameraConfig", "jpeg_quality", ge=1, le=100)
    enabled: bool = _avro("CameraConfig", "enabled")
    decode: DecodeMode = _avro("CameraConfig", "decode")
    loop: bool = _avro("CameraConfig", "loop")
    lines: list[CountingLine] = _avro("CameraConfig", "lines", max_length=MAX_ITEMS)
    zones: list[Zone] = _avro("CameraConfig", "zones", max_length=MAX_ITEMS)
    calibration: Calibration | None = _avro("CameraConfig", "calibration")
    blur_persons: bool = _avro("CameraConfig", "blur_persons")


class CameraConfig(CameraConfigBody):
    """Desired configuration of one camera (the CameraConfig Avro record)."""

    updated_at: datetime = _avro("CameraConfig", "updated_at")
