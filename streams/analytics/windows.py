"""Tumbling statistics windows of one camera, in event time.

Late-event policy: a camera's frames arrive in capture order on one partition, so a window closes as soon as the
camera's first frame at or after its end is processed (or the camera stops); a frame older than the last processed
one (or inside a window already closed) is late: it changes no window, is counted in `late_frames` of the window
open when it arrives (the next one when none is), and is sent to the dead-letter topic by the caller, so nothing is
lost silently.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.events import LineCount, TrafficStatsWindow
from streams.analytics.plain import StateDecodeError, need_int, need_list, need_num, need_str
from streams.analytics.plain import field as get

__all__ = ["Window", "window_start"]


def window_start(ts: float, size: float) -> float:
    return math.floor(ts / size) * size


@dataclass
class Window:
    start: float
    end: float
    frames: int = 0
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    tracks: set[int] = field(default_factory=set)
    speed_sum: float = 0.0
    speed_n: int = 0
    occupancy_sum: float = 0.0
    late_frames: int = 0

    def to_data(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "frames": self.frames,
            "counts": [[line, cls, d, n] for (line, cls, d), n in sorted(self.counts.items())],
            "tracks": sorted(self.tracks),
            "speed_sum": self.speed_sum,
            "speed_n": self.speed_n,
            "occupancy_sum": self.occupancy_sum,
            "late_frames": self.late_frames,
        }

    @classmethod
    def from_data(cls, data: Any) -> Window:
        counts: Counter[tuple[str, str, str]] = Counter()
        for row in need_list(get(data, "counts"), "window counts"):
            if not isinstance(row, list) or len(row) != 4:
                raise StateDecodeError("a window count is not [line, class, direction, n]")
            counts[(need_str(row[0]), need_str(row[1]), need_str(row[2]))] = need_int(row[3])
        return cls(
            start=need_num(get(data, "start"), "window start"),
            end=need_num(get(data, "end"), "window end"),
            frames=need_int(get(data, "frames"), "window frames"),
            counts=counts,
            tracks={need_int(t, "window track") for t in need_list(get(data, "tracks"))},
            speed_sum=need_num(get(data, "speed_sum"), "speed_sum"),
            speed_n=need_int(get(data, "speed_n"), "speed_n"),
            occupancy_sum=need_num(get(data, "occupancy_sum"), "occupancy_sum"),
            late_frames=need_int(get(data, "late_frames"), "late_frames"),
        )

    def add_frame(self, track_ids: list[int], speeds: list[float], occupancy: float) -> None:
        self.frames += 1
        self.tracks.update(track_ids)
        self.speed_sum += sum(speeds)
        self.speed_n += len(speeds)
        self.occupancy_sum += occupancy

    def add_count(self, line_id: str, class_name: str, direction: str) -> None:
        self.counts[(line_id, class_name, direction)] += 1

    def record(self, camera_id: str, closed_by: str) -> TrafficStatsWindow:
        counts: list[LineCount] = [
            {"line_id": line, "class_name": cls, "direction": d, "count": n}
            for (line, cls, d), n in sorted(self.counts.items())
        ]
        return {
            "camera_id": camera_id,
            "window_start": datetime.fromtimestamp(self.start, UTC),
            "window_end": datetime.fromtimestamp(self.end, UTC),
            "frames": self.frames,
            "counts": counts,
            "vehicles": len(self.tracks),
            "mean_speed_kmh": self.speed_sum / self.speed_n if self.speed_n else None,
            "speed_samples": self.speed_n,
            "mean_occupancy": self.occupancy_sum / self.frames if self.frames else 0.0,
            "late_frames": self.late_frames,
            "closed_by": closed_by,
        }
