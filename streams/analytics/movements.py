"""Turning movements: a vehicle tracked from one approach zone (Zone.kind "approach") into another.

A track's origin is the first approach zone its anchor is seen in; the first frame that sees it in a different
approach zone makes one movement, origin -> destination, and the track moves no more (one movement per vehicle,
as a junction's turning-movement count records it). Zones are rasterised like the other zones (ZoneGrid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.events import CameraConfig
from streams.analytics.geometry import ZoneGrid
from streams.analytics.plain import field, need_bool, need_num, need_str, opt

__all__ = ["APPROACH", "Approaches", "MovementState", "step_movement"]

APPROACH = "approach"


class Approaches:
    """A camera's approach zones, in configuration order."""

    def __init__(self, cfg: CameraConfig) -> None:
        zones = [z for z in cfg["zones"] if z["kind"] == APPROACH]
        self.ids = [z["zone_id"] for z in zones]
        self.names = {z["zone_id"]: z["name"] or z["zone_id"] for z in zones}
        self.grid = ZoneGrid([[(p["x"], p["y"]) for p in z["points"]] for z in zones])

    def __bool__(self) -> bool:
        return len(self.ids) >= 2

    def zone_at(self, x: float, y: float) -> str | None:
        """The first approach zone containing normalised point (x, y)."""
        return next((z for i, z in enumerate(self.ids) if self.grid.contains(i, x, y)), None)


@dataclass
class MovementState:
    """What one track knows about the approaches: where it came from, when, and whether it has moved."""

    origin: str | None = None
    entered_at: float = 0.0
    moved: bool = False

    def to_data(self) -> dict[str, Any]:
        return {"origin": self.origin, "entered_at": self.entered_at, "moved": self.moved}

    @classmethod
    def from_data(cls, data: Any) -> MovementState:
        return cls(
            origin=opt(field(data, "origin"), need_str),
            entered_at=need_num(field(data, "entered_at"), "entered_at"),
            moved=need_bool(field(data, "moved"), "moved"),
        )


def step_movement(state: MovementState, zone: str | None, t: float) -> str | None:
    """Advance `state` with the zone the track is in at `t`; the destination when this frame makes the movement."""
    if zone is None or state.moved:
        return None
    if state.origin is None:
        state.origin, state.entered_at = zone, t
        return None
    if zone == state.origin:
        return None
    state.moved = True
    return zone
