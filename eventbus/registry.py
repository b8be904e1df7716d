"""The camera registry's producer and reader: CameraConfig records on the compacted `its.cameras.v1` topic.

The record format and its validation are the contract in schemas/cameras.py; this module writes and reads them
(`itscam cameras add|update|remove|list` and the tests and benchmarks that set up cameras).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException, Producer

from eventbus.config import producer_config
from eventbus.errors import EventBusError
from eventbus.watermarks import read_to_end
from schemas.cameras import decode_camera, validate_camera
from schemas.credentials import seal_source
from schemas.errors import SchemaError
from schemas.events import CameraConfig
from schemas.serde import codec
from schemas.topics import CAMERAS

__all__ = ["put_camera", "read_cameras", "remove_camera"]


def put_camera(bootstrap: str, cfg: CameraConfig, topic: str = CAMERAS.name, timeout: float = 30.0) -> None:
    """Write (add or replace) a camera's desired configuration; acknowledged by every in-sync replica.
    Credentials in its source_url are sealed for ingest first (schemas/credentials.py; CredentialsError, naming
    ITS_CAMERA_SEAL_PUBLIC_KEY, when no key is configured)."""
    cfg = validate_camera(seal_source(cfg))
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
        raise EventBusError(
            f"Camera {key}: Kafka at {bootstrap} did not acknowledge the write to {topic} "
            f"({errors[0] if errors else 'timed out'}). Check the broker with `itscam stack status`."
        )


def read_cameras(bootstrap: str, topic: str = CAMERAS.name, timeout: float = 30.0) -> Mapping[str, CameraConfig]:
    """The current registry: every partition read from the start to its high watermark, latest value per key wins."""
    out: dict[str, CameraConfig] = {}
    try:
        for m in read_to_end(bootstrap, [topic], timeout=timeout, group_prefix="itscam-registry-reader"):
            key = (m.key() or b"").decode()
            value = m.value()
            if value is None:
                out.pop(key, None)
                continue
            try:
                out[key] = decode_camera(value)
            except SchemaError:
                out.pop(key, None)  # unreadable entries are not cameras; the ingest worker reports them
    except KafkaException as e:
        raise EventBusError(f"Reading the camera registry {topic} at {bootstrap} failed: {e}.") from e
    return dict(sorted(out.items()))
