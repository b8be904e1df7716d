"""The chaos run's verdict: the read models of the faulted run against the clean run's, row for row.

Each table is read whole (every column but the ones the projector stamps with the wall clock), each row made a
tuple; the two runs' rows are compared as multisets: a row the clean run has and the faulted run lacks is lost, a
row the faulted run has more often (or only it has) is duplicated. Tables keyed by a primary key cannot hold a
row twice, so a replayed event that was applied twice shows up as a changed aggregate row instead: the clean
row counts as lost and the faulted one as duplicated, both named in `mismatches`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

__all__ = ["COMPARED", "Diff", "diff_rows", "read_table"]

#: table -> columns compared (all but wall-clock stamps: frames.produced_at / projected_at, inference_ms)
COMPARED: dict[str, tuple[str, ...]] = {
    "vehicle_events": (
        "event_id", "camera_id", "line_id", "line_name", "track_id", "direction", "motion", "class_name",
        "class_id", "confidence", "frame_seq", "crossed_at", "x", "y", "speed_kmh",
    ),
    "vehicle_counts_minute": (
        "camera_id", "minute", "line_id", "class_name", "direction", "vehicles", "speed_sum", "speed_n",
    ),
    "movement_events": (
        "movement_id", "camera_id", "track_id", "origin_zone_id", "destination_zone_id", "class_name", "class_id",
        "confidence", "frame_seq", "entered_at", "moved_at", "speed_kmh",
    ),
    "movement_counts_minute": (
        "camera_id", "minute", "origin_zone_id", "destination_zone_id", "class_name", "vehicles",
    ),
    "traffic_stats": (
        "camera_id", "window_start", "window_end", "frames", "vehicles", "mean_speed_kmh", "speed_samples",
        "mean_occupancy", "late_frames", "closed_by",
    ),
    "traffic_stats_counts": ("camera_id", "window_start", "line_id", "class_name", "direction", "count"),
    "incidents": (
        "incident_id", "camera_id", "type", "state", "started_at", "ended_at", "track_id", "class_name", "line_id",
        "zone_id", "value", "detail",
    ),
    "frames": ("camera_id", "captured_at", "frame_seq", "width", "height", "model_name", "n_detections"),
    "detections": (
        "camera_id", "captured_at", "frame_seq", "idx", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2",
    ),
    "class_counts_minute": ("*",),
    "frames_minute": ("*",),
}  # fmt: skip


@dataclass
class Diff:
    """Rows lost and duplicated per table, with up to `keep` examples each."""

    checked: int = 0
    lost: int = 0
    duplicated: int = 0
    per_table: dict[str, dict[str, int]] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def add(self, table: str, clean: Iterable[Sequence[Any]], faulted: Iterable[Sequence[Any]], keep: int = 5) -> None:
        lost, dup, n = diff_rows(clean, faulted)
        self.checked += n
        self.lost += sum(lost.values())
        self.duplicated += sum(dup.values())
        self.per_table[table] = {"rows": n, "lost": sum(lost.values()), "duplicated": sum(dup.values())}
        for kind, rows in (("lost", lost), ("duplicated", dup)):
            for row, times in list(rows.items())[:keep]:
                self.mismatches.append({"table": table, "kind": kind, "times": times, "row": [str(v) for v in row]})


def diff_rows(
    clean: Iterable[Sequence[Any]], faulted: Iterable[Sequence[Any]]
) -> tuple[Counter[tuple[Any, ...]], Counter[tuple[Any, ...]], int]:
    """(lost, duplicated, rows of the clean run): rows missing from `faulted`, and rows `faulted` has beyond
    `clean`, each with how many times."""
    a = Counter(tuple(r) for r in clean)
    b = Counter(tuple(r) for r in faulted)
    return a - b, b - a, sum(a.values())


def read_table(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[Any, ...]]:
    cols = COMPARED[table]
    what = sql.SQL("*") if cols == ("*",) else sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    q = sql.SQL("SELECT {} FROM {}.{}").format(what, sql.Identifier(schema), sql.Identifier(table))
    with conn.cursor(binary=True) as cur:  # binary: float4 values come back exactly as stored
        cur.execute(q)
        return [tuple(r) for r in cur.fetchall()]
