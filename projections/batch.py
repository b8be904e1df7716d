"""A batch of consumed messages turned into our own typed values, grouped by kind (the edge where confluent
`Message`s stop)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from confluent_kafka import Message

from projections.purge import is_purge
from schemas import SchemaError, codec
from schemas.events import (
    CameraConfig,
    CameraStatusChanged,
    DetectionsProduced,
    FrameCaptured,
    IncidentDetected,
    TrafficStatsWindow,
    TurningMovement,
    VehicleCounted,
)

__all__ = ["Batch", "CameraChange", "Rejected", "decode_batch", "decode_message", "reported"]


@dataclass(frozen=True)
class CameraChange:
    """A record of the cameras topic: a configuration, or a tombstone (config None) at Kafka time `at`."""

    camera_id: str
    config: CameraConfig | None
    at: datetime
    purge: bool = False  # a tombstone with the header its-purge: 1 (projections/purge.py)


@dataclass(frozen=True)
class Rejected:
    msg: Message
    reason: str
    error: Exception


@dataclass
class Batch:
    detections: list[DetectionsProduced] = field(default_factory=list)
    cameras: list[CameraChange] = field(default_factory=list)
    statuses: list[CameraStatusChanged] = field(default_factory=list)
    vehicles: list[tuple[VehicleCounted, int, int]] = field(default_factory=list)  # (event, partition, offset)
    stats: list[TrafficStatsWindow] = field(default_factory=list)
    incidents: list[IncidentDetected] = field(default_factory=list)
    movements: list[TurningMovement] = field(default_factory=list)
    snapshots: list[FrameCaptured] = field(default_factory=list)  # Redis only (a still per camera, short TTL)

    def extend(self, other: Batch) -> None:
        self.detections += other.detections
        self.cameras += other.cameras
        self.statuses += other.statuses
        self.vehicles += other.vehicles
        self.stats += other.stats
        self.incidents += other.incidents
        self.movements += other.movements
        self.snapshots += other.snapshots

    def __len__(self) -> int:
        parts: list[list[Any]] = [self.detections, self.cameras, self.statuses, self.vehicles, self.stats]
        return sum(len(p) for p in parts) + len(self.incidents) + len(self.movements) + len(self.snapshots)


def _kafka_time(msg: Message) -> datetime:
    _, ms = msg.timestamp()
    return datetime.fromtimestamp(ms / 1000, UTC)


def reported(ev: DetectionsProduced) -> DetectionsProduced:
    """The event with only its reported detections, those above its report_confidence (inference's own test,
    `conf > ITS_INFERENCE_CONF`): the others are low-score candidates emitted for the tracker's second
    association, not objects the read models, caches or API show."""
    floor = ev.get("report_confidence", 0.0)
    if floor > 0.0:
        ev["detections"] = [d for d in ev["detections"] if d["confidence"] > floor]
    return ev


def decode_message(msg: Message, kinds: dict[str, str]) -> Batch | Rejected:
    """One message as a batch of one event, or why it cannot be projected."""
    topic, part, off = msg.topic() or "", msg.partition() or 0, msg.offset() or 0
    kind = kinds.get(topic)
    if kind is None:
        return Rejected(msg, "unknown-topic", SchemaError(f"The projector does not consume {topic}."))
    value = msg.value()
    batch = Batch()
    try:
        if kind == "CameraConfig":
            key = msg.key()
            cid = key.decode() if isinstance(key, bytes) else (key or "")
            config = None if value is None else cast(CameraConfig, codec(kind).decode(value))
            if config is None and not cid:
                return Rejected(
                    msg, "tombstone-without-key", SchemaError("A camera tombstone needs the camera id key.")
                )
            purge = config is None and is_purge(msg.headers())
            batch.cameras.append(CameraChange(config["camera_id"] if config else cid, config, _kafka_time(msg), purge))
            return batch
        record: Any = codec(kind).decode(value or b"")
    except (SchemaError, UnicodeDecodeError) as e:
        return Rejected(msg, "avro-decode", e)
    if kind == "DetectionsProduced":
        batch.detections.append(reported(record))
    elif kind == "CameraStatusChanged":
        batch.statuses.append(record)
    elif kind == "VehicleCounted":
        batch.vehicles.append((record, part, off))
    elif kind == "TrafficStatsWindow":
        batch.stats.append(record)
    elif kind == "TurningMovement":
        batch.movements.append(record)
    elif kind == "FrameCaptured":
        batch.snapshots.append(record)
    else:
        batch.incidents.append(record)
    return batch


def decode_batch(
    msgs: list[Message], kinds: dict[str, str]
) -> tuple[Batch, list[Rejected], dict[tuple[str, int], int]]:
    """Decode `msgs` (topic -> record kind in `kinds`); return the batch, the messages that could not be decoded
    (for the dead-letter topic) and the next offset per (topic, partition)."""
    batch = Batch()
    rejected: list[Rejected] = []
    offsets: dict[tuple[str, int], int] = {}
    for msg in msgs:
        offsets[(msg.topic() or "", msg.partition() or 0)] = (msg.offset() or 0) + 1
        one = decode_message(msg, kinds)
        if isinstance(one, Rejected):
            rejected.append(one)
        else:
            batch.extend(one)
    return batch, rejected, offsets
