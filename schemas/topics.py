"""The topic catalogue, declared once: it drives `itscam topics apply` and the Kubernetes topic manifests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

__all__ = [
    "CAMERAS",
    "CAMERA_STATUS",
    "CATALOGUE",
    "DETECTIONS",
    "DLQ",
    "FRAMES",
    "INCIDENTS",
    "MOVEMENTS",
    "SCHEMAS",
    "SNAPSHOTS",
    "TRAFFIC_STATS",
    "VEHICLE_EVENTS",
    "Topic",
    "topic",
]

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
    # On a production cluster (the Strimzi KafkaTopic manifests): more partitions, so the lag-scaled consumers can
    # run as many replicas as the capacity plan needs (a consumer group never uses more members than partitions),
    # and three replicas with min.insync.replicas=2. 0 means the same as `partitions`.
    cluster_partitions: int = 0
    cluster_replication: int = 3
    # An environment variable that overrides retention_ms where it is applied (`itscam topics apply`): retention
    # per data kind is a deployment setting (projections/retention.py, docs/operations.md).
    retention_env: str = ""

    @property
    def effective_retention_ms(self) -> int:
        raw = os.environ.get(self.retention_env, "").strip() if self.retention_env else ""
        if not raw:
            return self.retention_ms
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{self.retention_env}={raw!r} is not a whole number of milliseconds.") from None
        if value < 60_000 and value != -1:
            raise ValueError(f"{self.retention_env}={value}: give at least 60000 ms (one minute), or -1 for ever.")
        return value

    @property
    def partitions_on_cluster(self) -> int:
        return self.cluster_partitions or self.partitions

    def config(self) -> dict[str, str]:
        cfg = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.effective_retention_ms),
        }
        cfg.update(self.extra_config)
        return cfg


# Frames, detections, camera status and the analytics outputs share one partition count and one key so one camera's
# events are co-partitioned and stay ordered on one partition (analytics joins detections with camera status).
_PARTITIONS = 12
# The same group on a production cluster: at least the most replicas the prod overlay lets a consumer of it run
# (analytics: 80, inference: 50; deploy/k8s/SCALING.md), and divisible by 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 24, 30,
# 40 and 60 so replicas share partitions evenly.
_CLUSTER_PARTITIONS = 120


def _per_camera(name: str, value_schema: str, retention_ms: int, extra_config: dict[str, str] | None = None) -> Topic:
    """A topic of the co-partitioned group: keyed by camera id, deleted after `retention_ms`."""
    return Topic(
        name=name,
        partitions=_PARTITIONS,
        cluster_partitions=_CLUSTER_PARTITIONS,
        retention_ms=retention_ms,
        cleanup_policy="delete",
        key="camera_id",
        value_schema=value_schema,
        extra_config=extra_config or {},
    )


# Frames are big and only needed until inference has read them.
FRAMES = replace(
    _per_camera(
        "its.frames.v1", "FrameCaptured", 2 * 3600 * 1000, extra_config={"max.message.bytes": str(8 * 1024 * 1024)}
    ),
    retention_env="ITS_RETENTION_FRAMES_MS",
)
DETECTIONS = _per_camera("its.detections.v1", "DetectionsProduced", 7 * _DAY_MS)
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

CAMERAS = Topic(
    name="its.cameras.v1",
    # The ingest workers' consumer group splits cameras by partition: the partition count caps how many
    # ingest pods can share the fleet (100 pods of 10 cameras for 1,000 cameras), so leave head-room.
    partitions=120,
    retention_ms=-1,
    cleanup_policy="compact",
    key="camera_id",
    value_schema="CameraConfig",
    # Tombstones must outlive a worker that is catching up; compact soon after a change.
    extra_config={"delete.retention.ms": str(_DAY_MS), "min.compaction.lag.ms": "0", "segment.ms": str(_DAY_MS)},
)
# Camera status joins detections in analytics (camera-offline incidents), hence the group.
CAMERA_STATUS = _per_camera("its.camera-status.v1", "CameraStatusChanged", 30 * _DAY_MS)

# Analytics outputs: small, and kept long because the read models are rebuilt from them.
VEHICLE_EVENTS = _per_camera("its.vehicle-events.v1", "VehicleCounted", 90 * _DAY_MS)
TRAFFIC_STATS = _per_camera("its.traffic-stats.v1", "TrafficStatsWindow", 365 * _DAY_MS)
INCIDENTS = _per_camera("its.incidents.v1", "IncidentDetected", 365 * _DAY_MS)
MOVEMENTS = _per_camera("its.movements.v1", "TurningMovement", 90 * _DAY_MS)
# A still of each camera every few seconds (FrameCaptured), for the analyst page's picture: the projector keeps the
# latest one per camera in Redis with a short TTL. Compacted and deleted after an hour: never a video archive.
SNAPSHOTS = Topic(
    name="its.snapshots.v1",
    partitions=_PARTITIONS,
    cluster_partitions=_CLUSTER_PARTITIONS,
    retention_ms=3600 * 1000,
    cleanup_policy="compact,delete",
    key="camera_id",
    value_schema="FrameCaptured",
    extra_config={
        "max.message.bytes": str(8 * 1024 * 1024),
        "segment.ms": str(600 * 1000),
        "min.cleanable.dirty.ratio": "0.1",
    },
)

CATALOGUE: tuple[Topic, ...] = (
    CAMERAS,
    FRAMES,
    DETECTIONS,
    CAMERA_STATUS,
    VEHICLE_EVENTS,
    TRAFFIC_STATS,
    INCIDENTS,
    MOVEMENTS,
    SNAPSHOTS,
    DLQ,
    SCHEMAS,
)


def topic(name: str) -> Topic:
    for t in CATALOGUE:
        if t.name == name:
            return t
    raise KeyError(f"Topic {name!r} is not in the catalogue (schemas/topics.py); known: {[t.name for t in CATALOGUE]}")
