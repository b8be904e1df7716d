"""Tumbling statistics windows of one camera, in event time.

Late-event policy: a camera's frames arrive in capture order on one partition, so a window closes as soon as the
camera's first frame at or after its end is processed (or the camera stops); a frame older than the last processed
one (or inside a window already closed) is late: it changes no window, is counted in `late_frames` of the window
open when it arrives (the next one when none is), and is sent to the dead-letter topic by the caller, so nothing is
lost silently.

Completeness: a window counts only the frames that reached analytics. `missing_frames` are frames of the camera's
run that never did (a jump in run_index: expired from the frames topic while inference was behind, dead-lettered
upstream); they are placed evenly in capture time between the frames around the gap (`spread_missing`), and a
window inside the gap with no frame at all is still emitted, empty, so the loss shows where it happened.
`stale_frames` are frames counted whose detections were produced long after capture. Either makes the window
incomplete (`complete` false): its counts are not the whole live traffic of that minute.
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

__all__ = ["MAX_GAP_WINDOWS", "Window", "run_gap", "spread_missing", "window_start"]

#: most empty windows one gap emits (a day of 1-minute windows); a longer gap's missing frames all go to the window of
#: the frame after it
MAX_GAP_WINDOWS = 1440


def _opt(data: Any, name: str, default: Any) -> Any:
    return data.get(name, default) if isinstance(data, dict) else get(data, name)


def window_start(ts: float, size: float) -> float:
    return math.floor(ts / size) * size


def run_gap(prev: tuple[int | None, int], cur: tuple[int | None, int]) -> tuple[int, int]:
    """Frames that never reached analytics between the last applied frame (`prev`: its run_start_seq, run_index) and
    this one (`cur`): (missing since `prev` in the same run, missing at the head of a newer run). Nothing is counted
    against an unknown frame (None: a producer without runs, or a state from before them)."""
    (prev_run, prev_index), (run, index) = prev, cur
    if run is None or prev_run is None:
        return 0, 0
    if run == prev_run:
        return max(index - prev_index - 1, 0), 0
    return (0, max(index, 0)) if run > prev_run else (0, 0)


def spread_missing(t0: float, t1: float, n: int, size: float) -> list[tuple[float, int]]:
    """Where `n` frames missing between capture times `t0` and `t1` (exclusive) fall, evenly spaced: (window start,
    frames) for each window with any, oldest first. Pure and deterministic: a replay places them the same. Without a
    usable `t0` (or over a gap of more than MAX_GAP_WINDOWS windows) they all go to `t1`'s window."""
    if n <= 0:
        return []
    last = window_start(t1, size)
    if not (math.isfinite(t0) and t0 < t1) or (last - window_start(t0, size)) / size > MAX_GAP_WINDOWS:
        return [(last, n)]
    first = window_start(t0, size)
    step = (t1 - t0) / (n + 1)

    def before(x: float) -> int:  # how many of the missing frames (at t0 + step * k, k = 1..n) are earlier than x
        return min(max(math.ceil((x - t0) / step) - 1, 0), n)

    out: list[tuple[float, int]] = []
    windows = round((last - first) / size) + 1
    done = 0
    for i in range(windows):
        upto = n if i == windows - 1 else before(first + (i + 1) * size)
        if upto > done:
            out.append((first if i == 0 else last if i == windows - 1 else first + i * size, upto - done))
            done = upto
    return out


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
    missing_frames: int = 0
    stale_frames: int = 0

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
            "missing_frames": self.missing_frames,
            "stale_frames": self.stale_frames,
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
            # absent from states written before they existed
            missing_frames=need_int(_opt(data, "missing_frames", 0), "missing_frames"),
            stale_frames=need_int(_opt(data, "stale_frames", 0), "stale_frames"),
        )

    def add_frame(self, track_ids: list[int], speeds: list[float], occupancy: float, stale: bool = False) -> None:
        self.frames += 1
        self.stale_frames += stale
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
            "missing_frames": self.missing_frames,
            "stale_frames": self.stale_frames,
            "complete": self.missing_frames == 0 and self.stale_frames == 0,
        }
