"""The camera registry: CameraConfig records on the compacted `its.cameras.v1` topic, keyed by camera_id.

This module is the record's contract (defaults, validation, decoding); eventbus/registry.py writes and reads the topic.
Written by `itscam cameras add|update|remove` and the API's camera commands (POST/PUT/PATCH/DELETE /v1/cameras), read
by the ingest workers (each follows the partitions the consumer group gives it), the analytics stage (lines, zones,
calibration), the projector (the cameras read model) and `itscam cameras list`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import ValidationError

from schemas import camera_model as cm
from schemas._camera_errors import describe
from schemas.camera_model import DECODE_MODES, LINE_DIRECTIONS, PROTOCOLS
from schemas.errors import SchemaError
from schemas.events import CameraConfig
from schemas.serde import codec

__all__ = [
    "DECODE_MODES",
    "LINE_DIRECTIONS",
    "PROTOCOLS",
    "CameraConfigError",
    "camera_config",
    "decode_camera",
    "redact",
    "validate_camera",
]


class CameraConfigError(SchemaError):
    """A camera configuration is invalid; the message names the field and the fix. `field` is where (the path of
    a missing, unknown or mistyped field, e.g. "lines[0].y2", or the top-level field holding a value out of range)
    and `reason` the short why, as the API's 422 problems show them."""

    def __init__(self, message: str, field: str = "body", reason: str = "is invalid") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


def redact(url: str) -> str:
    """The URL with any user:password@ removed, for logs, events and listings."""
    return re.sub(r"//[^/@]+@", "//***@", url)


def camera_config(camera_id: str, source_url: str, **fields: Any) -> CameraConfig:
    """A complete CameraConfig from the schema's defaults and `fields` (updated_at: now); validated."""
    known = set(cm.CameraConfig.model_fields)
    unknown = set(fields) - known
    if unknown:
        raise CameraConfigError(
            f"Unknown camera field(s) {sorted(unknown)}; known: {sorted(known)}.", str(min(unknown)), "is unknown"
        )
    return validate_camera(
        {"updated_at": datetime.now(UTC), **fields, "camera_id": camera_id, "source_url": source_url}
    )


def validate_camera(cfg: Mapping[str, Any]) -> CameraConfig:
    """`cfg` checked against the CameraConfig model (types, enums, ranges) and completed with the schema's
    defaults; raise CameraConfigError naming the first field that is wrong."""
    try:
        model = cm.CameraConfig.model_validate(cfg)
    except ValidationError as e:
        raise CameraConfigError(*describe(cfg, e.errors(include_url=False)[0])) from None
    out = cast(CameraConfig, model.model_dump())
    cid = out["camera_id"]
    seen: set[str] = set()
    for line in out["lines"]:
        if (line["x1"], line["y1"]) == (line["x2"], line["y2"]):
            raise CameraConfigError(
                f"Camera {cid}: line {line['line_id']!r} has both ends at {(line['x1'], line['y1'])}; give two "
                "distinct points.",
                "lines",
                "has a line with both ends at one point",
            )
        if line["line_id"] in seen:
            raise CameraConfigError(
                f"Camera {cid}: line id {line['line_id']!r} is used twice; line ids are unique.",
                "lines",
                "has a line id used twice",
            )
        seen.add(line["line_id"])
    return out


def decode_camera(value: bytes) -> CameraConfig:
    return cast(CameraConfig, codec("CameraConfig").decode(value))
