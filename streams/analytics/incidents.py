"""Incident records and the congestion detector (occupancy over a threshold for a window)."""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from schemas.events import IncidentDetected
from streams.analytics.plain import StateDecodeError, need_int, need_list, need_num, need_str, opt
from streams.analytics.plain import field as get

__all__ = ["Congestion", "OpenIncident", "event_id", "incident"]


def event_id(*parts: object) -> str:
    """32 hex digits determined by `parts`: the same inputs on a replay give the same id."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass
class OpenIncident:
    incident_id: str
    started: float
    track_id: int | None = None
    class_name: str | None = None
    zone_id: str | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "started": self.started,
            "track_id": self.track_id,
            "class_name": self.class_name,
            "zone_id": self.zone_id,
        }

    @classmethod
    def from_data(cls, data: Any) -> OpenIncident:
        return cls(
            incident_id=need_str(get(data, "incident_id"), "incident_id"),
            started=need_num(get(data, "started"), "incident start"),
            track_id=opt(get(data, "track_id"), need_int),
            class_name=opt(get(data, "class_name"), need_str),
            zone_id=opt(get(data, "zone_id"), need_str),
        )


def incident(
    camera_id: str,
    kind: str,
    open_: OpenIncident,
    ended: float | None,
    *,
    line_id: str | None = None,
    value: float | None = None,
    detail: str = "",
) -> IncidentDetected:
    return {
        "incident_id": open_.incident_id,
        "camera_id": camera_id,
        "type": kind,
        "state": "OPEN" if ended is None else "CLOSED",
        "started_at": _dt(open_.started),
        "ended_at": None if ended is None else _dt(ended),
        "track_id": open_.track_id,
        "class_name": open_.class_name,
        "line_id": line_id,
        "zone_id": open_.zone_id,
        "value": value,
        "detail": detail,
    }


@dataclass
class Congestion:
    """Mean occupancy over a sliding window of per-second buckets; opens at `threshold`, closes below
    `threshold * release` (hysteresis, so a queue hovering at the threshold is one incident, not many)."""

    window: float
    threshold: float
    release: float
    buckets: deque[list[float]] = field(default_factory=deque)  # [second, sum, n]
    open: OpenIncident | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "threshold": self.threshold,
            "release": self.release,
            "buckets": [list(b) for b in self.buckets],
            "open": None if self.open is None else self.open.to_data(),
        }

    @classmethod
    def from_data(cls, data: Any) -> Congestion:
        buckets: deque[list[float]] = deque()
        for b in need_list(get(data, "buckets"), "congestion buckets"):
            if not isinstance(b, list) or len(b) != 3:
                raise StateDecodeError("a congestion bucket is not [second, sum, n]")
            buckets.append([need_num(x, "congestion bucket") for x in b])
        return cls(
            window=need_num(get(data, "window"), "congestion window"),
            threshold=need_num(get(data, "threshold"), "congestion threshold"),
            release=need_num(get(data, "release"), "congestion release"),
            buckets=buckets,
            open=opt(get(data, "open"), OpenIncident.from_data),
        )

    def update(self, camera_id: str, zone_id: str | None, t: float, occupancy: float) -> list[IncidentDetected]:
        sec = float(int(t))
        if self.buckets and self.buckets[-1][0] == sec:
            self.buckets[-1][1] += occupancy
            self.buckets[-1][2] += 1
        else:
            self.buckets.append([sec, occupancy, 1.0])
        while self.buckets and self.buckets[0][0] <= sec - self.window:
            self.buckets.popleft()
        total = sum(b[2] for b in self.buckets)
        mean = sum(b[1] for b in self.buckets) / total
        covered = sec - self.buckets[0][0] + 1 >= self.window
        out: list[IncidentDetected] = []
        if self.open is None and covered and mean >= self.threshold:
            started = self.buckets[0][0]
            self.open = OpenIncident(event_id(camera_id, "CONGESTION", zone_id, started), started, zone_id=zone_id)
            out.append(
                incident(
                    camera_id,
                    "CONGESTION",
                    self.open,
                    None,
                    value=mean,
                    detail=f"Mean occupancy {mean:.0%} over {self.window:.0f} s (threshold {self.threshold:.0%}).",
                )
            )
        elif self.open is not None and mean < self.threshold * self.release:
            out.append(
                incident(
                    camera_id,
                    "CONGESTION",
                    self.open,
                    t,
                    value=mean,
                    detail=f"Mean occupancy fell to {mean:.0%} over {self.window:.0f} s.",
                )
            )
            self.open = None
        return out
