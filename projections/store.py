"""Writing a batch of every event kind into the PostgreSQL read models, offsets in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import psycopg

from projections.batch import Batch
from projections.fencing import OffsetFence
from projections.partitions import Partitions
from projections.purge import purge_rows, purged_cameras
from projections.writers import (
    counted_cameras,
    write_camera_changes,
    write_detections,
    write_incidents,
    write_movements,
    write_statuses,
    write_traffic_stats,
    write_vehicle_events,
)
from schemas.events import DetectionsProduced, IncidentDetected, VehicleCounted

__all__ = ["BatchStats", "PgStore"]


@dataclass
class BatchStats:
    frames_new: int
    frames_duplicate: int
    detections: int
    new_frames: list[DetectionsProduced] = field(default_factory=list)
    new_vehicles: list[tuple[VehicleCounted, int, int]] = field(default_factory=list)
    incidents: list[IncidentDetected] = field(default_factory=list)
    counted_before: set[str] = field(default_factory=set)  # cameras whose Redis counters must already exist


class PgStore:
    """The read models of one schema (the connection's search_path) for one consumer group."""

    def __init__(self, conn: psycopg.Connection[Any], group_id: str, fence: OffsetFence | None = None) -> None:
        self.conn = conn
        self.group_id = group_id
        self.fence = fence or OffsetFence(group_id)
        self.partitions = Partitions()

    def offsets(self, topic: str) -> dict[int, int]:
        """The stored next offsets of `topic` by partition (read only; does not change what the fence expects)."""
        rows = self.conn.execute(
            "SELECT partition, next_offset FROM projection_offsets WHERE consumer_group = %s AND topic = %s",
            (self.group_id, topic),
        ).fetchall()
        self.conn.commit()
        return {int(p): int(o) for p, o in rows}

    def write(self, batch: Batch, offsets: dict[tuple[str, int], int]) -> BatchStats:
        """Write one batch; `offsets` maps (topic, partition) to the next offset to read.

        Commit order:
          0. create the day partitions of frames/detections the batch needs (own transaction, remembered);
          then, in one PostgreSQL transaction:
          1. camera configurations and tombstones, then camera statuses (newer changed_at wins);
          2. frames not projected yet (replays are no-ops) and COPY of their detections;
          3. the new frames' per-minute counts and the cameras' activity columns;
          4. vehicle events not seen yet, only those added to vehicle_counts_minute; cameras.counts_offset;
          5. traffic statistics windows and their counts (idempotent upserts);
          6. incidents (CLOSED is final); turning movements not seen yet, only those added to the minute counts;
          7. the offsets, compare-and-set (fencing.OffsetFence): a mismatch raises Fenced and rolls 1-6 back;
          8. commit; only then does the fence expect the new offsets.
        """
        # 0.
        days = {e["captured_at"].astimezone(UTC).date() for e in batch.detections}
        if days:
            self.partitions.ensure(self.conn, days)
        with self.conn.transaction(), self.conn.cursor() as cur:
            # 1.
            write_camera_changes(cur, batch.cameras)
            write_statuses(cur, batch.statuses)
            # 2. + 3.
            new_frames, n_det = write_detections(cur, batch.detections)
            # 4.
            counted = counted_cameras(cur, batch.vehicles)
            new_vehicles = write_vehicle_events(cur, batch.vehicles)
            # 5.
            write_traffic_stats(cur, batch.stats)
            # 6.
            incidents = write_incidents(cur, batch.incidents)
            write_movements(cur, batch.movements)
            purge_rows(cur, purged_cameras(batch.cameras))  # DELETE ?purge=true: after the batch's own rows
            # 7.
            if offsets:
                self.fence.write(cur, offsets)
        # 8.
        self.fence.committed(offsets)
        return BatchStats(
            len(new_frames),
            len(batch.detections) - len(new_frames),
            n_det,
            new_frames,
            new_vehicles,
            incidents,
            counted,
        )
