"""The camera registry: CameraConfig records on the compacted `its.cameras.v1` topic, keyed by camera_id.

Written by `itscam cameras add|update|remove` and the API's camera commands (POST/PATCH/DELETE /v1/cameras), read
by the ingest workers (each follows the partitions the consumer group gives it), the analytics stage (lines, zones,
calibration), the projector (the cameras read model) and `itscam cameras list`.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from schemas.errors import SchemaError
from schemas.events import CameraConfig
from schemas.kafka import consumer_config, producer_config
from schemas.serde import codec
from schemas.topics import CAMERAS

__all__ = [
    "DECODE_MODES",
    "PROTOCOLS",
    "CameraConfigError",
    "camera_config",
    "decode_camera",
    "put_camera",
    "read_cameras",
    "redact",
    "remove_camera",
    "validate_camera",
]

PROTOCOLS = ("AUTO", "RTSP_TCP", "RTSP_UDP", "HTTP_MJPEG", "HLS", "WHEP", "FILE", "FFMPEG")
DECODE_MODES = ("AUTO", "ALL", "KEYFRAMES")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class CameraConfigError(SchemaError):
    """A camera configuration is invalid; the message names the field and the fix."""


def redact(url: str) -> str:
    """The URL with any user:password@ removed, for logs, events and listings."""
    return re.sub(r"//[^/@]+@", "//***@", url)


_LINE_DEFAULTS: dict[str, Any] = {"name": "", "in_direction": "LEFT_TO_RIGHT", "one_way": False}
_ZONE_DEFAULTS: dict[str, Any] = {"name": "", "kind": "generic"}
LINE_DIRECTIONS = ("LEFT_TO_RIGHT", "RIGHT_TO_LEFT")


def camera_config(camera_id: str, source_url: str, **fields: Any) -> CameraConfig:
    """A complete CameraConfig from the schema's defaults and `fields`; validated."""
    cfg: dict[str, Any] = {
        "camera_id": camera_id,
        "name": "",
        "source_url": source_url,
        "protocol": "AUTO",
        "target_fps": 10.0,
        "max_width": 1280,
        "max_height": 720,
        "jpeg_quality": 90,
        "enabled": True,
        "decode": "AUTO",
        "loop": False,
        "lines": [],
        "zones": [],
        "calibration": None,
        "updated_at": datetime.now(UTC),
    }
    unknown = set(fields) - set(cfg)
    if unknown:
        raise CameraConfigError(f"Unknown camera field(s) {sorted(unknown)}; known: {sorted(cfg)}.")
    cfg.update(fields)
    cfg["lines"] = [{**_LINE_DEFAULTS, **line} for line in cfg["lines"]]
    cfg["zones"] = [{**_ZONE_DEFAULTS, **zone} for zone in cfg["zones"]]
    out = cast(CameraConfig, cfg)
    validate_camera(out)
    return out


def validate_camera(cfg: CameraConfig) -> None:
    """Raise CameraConfigError naming the first field that is out of range."""
    cid = cfg["camera_id"]
    if not _ID.match(cid):
        raise CameraConfigError(
            f"Camera id {cid!r} is not valid: use 1-128 letters, digits, '.', '_', ':' or '-', starting with a "
            "letter or digit (it becomes the Kafka key and a URL path segment)."
        )
    if not cfg["source_url"].strip():
        raise CameraConfigError(
            f"Camera {cid}: source_url is empty; give an rtsp://, http(s)://, whep:// URL or a path."
        )
    if cfg["protocol"] not in PROTOCOLS:
        raise CameraConfigError(f"Camera {cid}: protocol {cfg['protocol']!r} is not one of {list(PROTOCOLS)}.")
    if cfg["decode"] not in DECODE_MODES:
        raise CameraConfigError(f"Camera {cid}: decode {cfg['decode']!r} is not one of {list(DECODE_MODES)}.")
    fps = cfg["target_fps"]
    if not (math.isfinite(fps) and 0 < fps <= 60):
        raise CameraConfigError(f"Camera {cid}: target_fps {fps} is out of range; use a value in (0, 60].")
    if not 1 <= cfg["jpeg_quality"] <= 100:
        raise CameraConfigError(f"Camera {cid}: jpeg_quality {cfg['jpeg_quality']} is out of range; use 1-100.")
    for dim in ("max_width", "max_height"):
        if not 0 <= cfg[dim] <= 16384:
            raise CameraConfigError(f"Camera {cid}: {dim} {cfg[dim]} is out of range; use 0 (no cap) to 16384.")
    seen: set[str] = set()
    for line in cfg["lines"]:
        coords = (line["x1"], line["y1"], line["x2"], line["y2"])
        if not all(0.0 <= c <= 1.0 for c in coords):
            raise CameraConfigError(
                f"Camera {cid}: line {line['line_id']!r} has coordinates {coords} outside 0..1; lines use "
                "normalised image coordinates (x / width, y / height)."
            )
        if coords[:2] == coords[2:]:
            raise CameraConfigError(
                f"Camera {cid}: line {line['line_id']!r} has both ends at {coords[:2]}; give two distinct points."
            )
        if line.get("in_direction", "LEFT_TO_RIGHT") not in LINE_DIRECTIONS:
            raise CameraConfigError(
                f"Camera {cid}: line {line['line_id']!r} in_direction {line['in_direction']!r} is not one of "
                f"{list(LINE_DIRECTIONS)}."
            )
        if line["line_id"] in seen:
            raise CameraConfigError(f"Camera {cid}: line id {line['line_id']!r} is used twice; line ids are unique.")
        seen.add(line["line_id"])
    for zone in cfg["zones"]:
        pts = [(p["x"], p["y"]) for p in zone["points"]]
        if len(pts) < 3 or not all(0.0 <= c <= 1.0 for pt in pts for c in pt):
            raise CameraConfigError(
                f"Camera {cid}: zone {zone['zone_id']!r} needs at least 3 points in normalised image coordinates "
                f"(0..1); found {pts}."
            )
    cal = cfg["calibration"]
    if cal is not None and not (len(cal["image_points"]) == len(cal["ground_points"]) == 4):
        raise CameraConfigError(
            f"Camera {cid}: calibration needs exactly 4 image points and their 4 ground points in metres."
        )


def decode_camera(value: bytes) -> CameraConfig:
    return cast(CameraConfig, codec("CameraConfig").decode(value))


def put_camera(bootstrap: str, cfg: CameraConfig, topic: str = CAMERAS.name, timeout: float = 30.0) -> None:
    """Write (add or replace) a camera's desired configuration; acknowledged by every in-sync replica."""
    validate_camera(cfg)
    _send(bootstrap, topic, cfg["camera_id"], codec("CameraConfig").encode(cfg), timeout)


def remove_camera(bootstrap: str, camera_id: str, topic: str = CAMERAS.name, timeout: float = 30.0) -> None:
    """Append a tombstone: workers stop the camera, compaction forgets it."""
    _send(bootstrap, topic, camera_id, None, timeout)


def _send(bootstrap: str, topic: str, key: str, value: bytes | None, timeout: float) -> None:
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    p = Producer(producer_config(bootstrap))
    p.produce(topic, key=key.encode(), value=value, on_delivery=on_delivery)
    left = p.flush(timeout)
    if left or errors:
        raise CameraConfigError(
            f"Camera {key}: Kafka at {bootstrap} did not acknowledge the write to {topic} "
            f"({errors[0] if errors else 'timed out'}). Check the broker with `itscam stack status`."
        )


def read_cameras(bootstrap: str, topic: str = CAMERAS.name, timeout: float = 30.0) -> Mapping[str, CameraConfig]:
    """The current registry: every partition read from the start to its end, latest value per key wins."""
    c = Consumer(consumer_config(bootstrap, f"itscam-registry-reader-{uuid.uuid4().hex[:8]}"))
    try:
        md = c.list_topics(topic, timeout=timeout).topics.get(topic)
        if md is None or md.error is not None:
            raise CameraConfigError(f"Topic {topic} does not exist at {bootstrap}: run `itscam topics apply`.")
        ends: dict[int, int] = {}
        for p in md.partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if hi > lo:
                ends[p] = hi
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out: dict[str, CameraConfig] = {}
        deadline = datetime.now(UTC).timestamp() + timeout
        while ends:
            if datetime.now(UTC).timestamp() > deadline:
                raise CameraConfigError(f"Reading {topic} at {bootstrap} took longer than {timeout}s.")
            for m in c.consume(500, 0.5):
                if m.error() is not None:
                    continue
                key = (m.key() or b"").decode()
                value = m.value()
                if value is None:
                    out.pop(key, None)
                else:
                    try:
                        out[key] = decode_camera(value)
                    except SchemaError:
                        out.pop(key, None)  # unreadable entries are not cameras; the ingest worker reports them
                p, off = m.partition(), m.offset() or 0
                if p in ends and off + 1 >= ends[p]:
                    del ends[p]
        return dict(sorted(out.items()))
    except KafkaException as e:
        raise CameraConfigError(f"Reading the camera registry {topic} at {bootstrap} failed: {e}.") from e
    finally:
        c.close()
