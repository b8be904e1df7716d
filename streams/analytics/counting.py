"""Line crossings of one track: a hysteresis band against jitter, interpolation against skipped frames.

A track's side of a line only changes when its anchor is clearly (more than `band` pixels) on the other side;
positions inside the band are ignored. When the side changes, the straight path from the last clear position to
the new one is intersected with the segment, so the vehicle counts even if no frame caught it near the line, and
it does not count when it passed beside the segment's end. Each (track, line, direction) counts at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.analytics.geometry import Crossing, cross_segment, motion_of, side_distance
from streams.analytics.plain import StateDecodeError, need_int, need_list, need_num, need_str
from streams.analytics.plain import field as get

__all__ = ["LineCrossing", "LineSide", "PixelLine", "step_line"]


@dataclass(frozen=True)
class PixelLine:
    """A counting line scaled to one frame size."""

    line_id: str
    name: str
    a: tuple[float, float]
    b: tuple[float, float]
    in_from: int  # the side (-1 left, +1 right) an IN crossing starts from
    one_way: bool

    @property
    def geometry(self) -> tuple[float, float, float, float, int]:
        return (*self.a, *self.b, self.in_from)


@dataclass
class LineSide:
    """What one track knows about one line."""

    geometry: tuple[float, float, float, float, int]
    side: int = 0  # -1 / +1: the side the anchor was last clearly on; 0: not yet clear
    pos: tuple[float, float] = (0.0, 0.0)
    t: float = 0.0
    counted: set[str] = field(default_factory=set)

    def to_data(self) -> dict[str, Any]:
        return {
            "geometry": list(self.geometry),
            "side": self.side,
            "pos": list(self.pos),
            "t": self.t,
            "counted": sorted(self.counted),
        }

    @classmethod
    def from_data(cls, data: Any) -> LineSide:
        g = need_list(get(data, "geometry"), "line geometry")
        pos = need_list(get(data, "pos"), "line position")
        if len(g) != 5 or len(pos) != 2:
            raise StateDecodeError("line geometry or position has the wrong length")
        side = need_int(get(data, "side"), "line side")
        if side not in (-1, 0, 1):
            raise StateDecodeError(f"line side {side} is not -1, 0 or 1")
        return cls(
            geometry=(need_num(g[0]), need_num(g[1]), need_num(g[2]), need_num(g[3]), need_int(g[4])),
            side=side,
            pos=(need_num(pos[0]), need_num(pos[1])),
            t=need_num(get(data, "t"), "line time"),
            counted={need_str(d, "counted direction") for d in need_list(get(data, "counted"))},
        )


@dataclass(frozen=True)
class LineCrossing:
    line: PixelLine
    direction: str  # IN | OUT
    motion: str  # UP | DOWN | LEFT | RIGHT
    at: float  # interpolated time, seconds
    point: Crossing


def step_line(state: LineSide, line: PixelLine, p: tuple[float, float], t: float, band: float) -> LineCrossing | None:
    """Advance `state` with the track's anchor `p` at time `t`; the crossing it made, if it is one to count."""
    d = side_distance(line.a, line.b, p)
    if abs(d) <= band:
        return None
    side = -1 if d < 0 else 1
    if state.side == 0 or side == state.side:
        state.side, state.pos, state.t = side, p, t
        return None
    p0, t0, from_side = state.pos, state.t, state.side
    state.side, state.pos, state.t = side, p, t
    hit = cross_segment(line.a, line.b, p0, p)
    if hit is None:
        return None
    direction = "IN" if from_side == line.in_from else "OUT"
    if direction in state.counted:
        return None
    state.counted.add(direction)
    return LineCrossing(line=line, direction=direction, motion=motion_of(p0, p), at=t0 + hit.t * (t - t0), point=hit)
