"""Frame-rate sampling: keep frames so that kept timestamps are spaced 1/fps apart (pure logic)."""

from __future__ import annotations

__all__ = ["FpsSampler", "FrameSeq"]


class FpsSampler:
    """Decide per decoded frame, from its timestamp in seconds, whether to keep it.

    Keeps the first frame, then the first frame at or after each 1/fps step. When the source jumps
    (a gap, a seek, a reconnect) the schedule restarts from that frame instead of bursting to catch up.
    `fps <= 0` keeps every frame.
    """

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps if fps > 0 else 0.0
        self._next: float | None = None

    def accept(self, t: float) -> bool:
        if self.period == 0.0:
            return True
        # A tolerance of 1% of the period absorbs rounding in container timestamps.
        eps = self.period * 0.01
        if self._next is None or t + eps < self._next - 2 * self.period:
            self._next = t + self.period
            return True
        if t + eps >= self._next:
            self._next += self.period
            if self._next <= t:  # fell behind by more than one period: restart the schedule
                self._next = t + self.period
            return True
        return False


class FrameSeq:
    """Strictly increasing frame_seq per camera.

    `anchored=True` (registry cameras): the next value is at least the capture time in epoch milliseconds, so the
    sequence keeps increasing across reconnects, worker moves and restarts without any shared state.
    `anchored=False` (one-shot ingest of a file): 0, 1, 2, ...

    Each instance is one run of the camera: `run_start` (the first frame_seq) names the run and `index` counts the
    frames numbered in it without a gap, so a consumer that misses frames of a run can tell how many it missed
    (an anchored frame_seq jumps with the clock and cannot say).
    """

    def __init__(self, anchored: bool) -> None:
        self.anchored = anchored
        self.last = -1
        self.run_start: int | None = None
        self.index = -1

    def next(self, wall_ms: int) -> int:
        self.last = max(self.last + 1, wall_ms if self.anchored else 0)
        if self.run_start is None:
            self.run_start = self.last
        self.index += 1
        return self.last
