"""Camera health as a small state machine (pure logic): what an ingest worker reports on its.camera-status.v1.

ONLINE    frames arrive at (nearly) the expected rate;
DEGRADED  frames arrive, but below `degraded_ratio` of the expected rate over the window, or were dropped because
          the reader lagged behind the camera;
OFFLINE   no frames: the source cannot be opened, ended, stalled or failed; the worker keeps retrying;
DISABLED  an operator disabled or removed the camera (not an outage).

Events are emitted on changes only (and when the resolution changes), never per frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["StatusChange", "StatusTracker"]


@dataclass(frozen=True)
class StatusChange:
    status: str
    previous: str | None
    reason: str
    error: str | None
    at: datetime
    measured_fps: float
    width: int | None
    height: int | None


@dataclass
class StatusTracker:
    """Feed it frames, lag drops, failures and clock ticks; it returns a StatusChange when one is due.

    `expected_fps` is the rate a healthy camera delivers: the target fps, or the camera's own rate when lower.
    Times are monotonic seconds (`now`); `wall` is only copied onto events.
    """

    expected_fps: float
    window_s: float = 10.0
    degraded_ratio: float = 0.8
    recovered_ratio: float = 0.9
    status: str | None = None
    width: int | None = None
    height: int | None = None
    _frames: deque[float] = field(default_factory=deque)
    _lag_drops: deque[float] = field(default_factory=deque)
    _online_since: float = 0.0

    def measured_fps(self, now: float) -> float:
        self._expire(now)
        span = min(self.window_s, max(now - self._online_since, 1e-9))
        return len(self._frames) / span if span >= 1.0 else 0.0

    def frame(self, now: float, wall: datetime, width: int, height: int) -> StatusChange | None:
        """A frame was taken from the source (sampled)."""
        self._frames.append(now)
        if self.status in (None, "OFFLINE"):
            reason = "connected" if self.status is None else "recovered"
            self._online_since = now
            self._frames.clear()
            self._frames.append(now)
            self.width, self.height = width, height
            return self._to("ONLINE", reason, None, wall, now)
        if (width, height) != (self.width, self.height):
            old = f"{self.width}x{self.height}"
            self.width, self.height = width, height
            return self._to(
                self.status,
                "resolution_changed",
                f"The camera changed its resolution from {old} to {width}x{height} mid-stream; frames continue "
                "at the new size (check the camera's encoder settings if this was not intended).",
                wall,
                now,
            )
        return None

    def lag_drop(self, now: float) -> None:
        """Frames were skipped because reading fell behind the camera."""
        self._lag_drops.append(now)

    def failed(self, now: float, wall: datetime, reason: str, error: str) -> StatusChange | None:
        """The source failed (cannot open, ended, stalled). Emits only when the status or the cause changes."""
        if self.status == "OFFLINE" and self._last_reason == reason:
            return None
        return self._to("OFFLINE", reason, error, wall, now)

    def disabled(self, now: float, wall: datetime, reason: str) -> StatusChange | None:
        if self.status == "DISABLED":
            return None
        return self._to("DISABLED", reason, None, wall, now)

    def tick(self, now: float, wall: datetime) -> StatusChange | None:
        """Re-evaluate ONLINE/DEGRADED from the measured rate; call about once a second."""
        if self.status not in ("ONLINE", "DEGRADED") or now - self._online_since < self.window_s:
            return None  # give a fresh connection one full window before judging its rate
        fps = self.measured_fps(now)
        lagging = bool(self._lag_drops)
        if self.status == "ONLINE":
            if lagging:
                return self._to(
                    "DEGRADED",
                    "lagging",
                    "Reading fell behind the camera, so frames were skipped up to the next key frame: the worker "
                    "is overloaded (fewer cameras per worker, lower fps, or decode=KEYFRAMES).",
                    wall,
                    now,
                )
            if fps < self.degraded_ratio * self.expected_fps:
                return self._to(
                    "DEGRADED",
                    "slow",
                    f"Frames arrive at {fps:.2f}/s, below {self.degraded_ratio:.0%} of the expected "
                    f"{self.expected_fps:.2f}/s: check the camera's frame rate and the network.",
                    wall,
                    now,
                )
        elif not lagging and fps >= self.recovered_ratio * self.expected_fps:
            return self._to("ONLINE", "recovered", None, wall, now)
        return None

    # -- internals --------------------------------------------------------------------------------------
    _last_reason: str = ""

    def _expire(self, now: float) -> None:
        for q in (self._frames, self._lag_drops):
            while q and q[0] < now - self.window_s:
                q.popleft()

    def _to(self, status: str, reason: str, error: str | None, wall: datetime, now: float) -> StatusChange:
        prev = self.status
        fps = self.measured_fps(now) if status in ("ONLINE", "DEGRADED") else 0.0
        self.status, self._last_reason = status, reason
        return StatusChange(status, prev, reason, error, wall or datetime.now(UTC), fps, self.width, self.height)
