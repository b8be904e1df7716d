"""The topic catalogue, declared once: it drives `itscam topics apply` and the Kubernetes topic manifests."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CATALOGUE", "DETECTIONS", "DLQ", "FRAMES", "SCHEMAS", "Topic", "topic"]

_DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: str
    key: str
    value_schema: str | None
    replication: int = 1
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        cfg = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
        }
        cfg.update(self.extra_config)
        return cfg


# Frames, detections and (later) analytics outputs share one partition count so one camera's events are
# co-partitioned and stay ordered on one partition.
_PARTITIONS = 12

FRAMES = Topic(
    name="its.frames.v1",
    partitions=_PARTITIONS,
    retention_ms=2 * 3600 * 1000,  # frames are big and only needed until inference has read them
    cleanup_policy="delete",
    key="camera_id",
    value_schema="FrameCaptured",
    extra_config={"max.message.bytes": str(8 * 1024 * 1024)},
)
DETECTIONS = Topic(
    name="its.detections.v1",
    partitions=_PARTITIONS,
    retention_ms=7 * _DAY_MS,
    cleanup_policy="delete",
    key="camera_id",
    value_schema="DetectionsProduced",
)
DLQ = Topic(
    name="its.dlq.v1",
    partitions=3,
    retention_ms=14 * _DAY_MS,
    cleanup_policy="delete",
    key="original key",
    value_schema="DeadLetter",
    extra_config={"max.message.bytes": str(8 * 1024 * 1024)},
)
SCHEMAS = Topic(
    name="its.schemas.v1",
    partitions=1,
    retention_ms=-1,
    cleanup_policy="compact",
    key="CRC-64-AVRO fingerprint (hex)",
    value_schema=None,  # the .avsc JSON text itself
)

CATALOGUE: tuple[Topic, ...] = (FRAMES, DETECTIONS, DLQ, SCHEMAS)


def topic(name: str) -> Topic:
    for t in CATALOGUE:
        if t.name == name:
            return t
    raise KeyError(f"Topic {name!r} is not in the catalogue (schemas/topics.py); known: {[t.name for t in CATALOGUE]}")
