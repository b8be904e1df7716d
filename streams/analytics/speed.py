"""Ground speed of a track from its recent anchor positions and the camera's homography."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from streams.analytics.geometry import Homography

__all__ = ["Trail", "displacement_rate", "speed_kmh"]

#: (time s, normalised x, normalised y) of a track's ground anchor, oldest first, within the horizon
Trail = deque[tuple[float, float, float]]


def _span(trail: Trail, horizon: float) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
    """The oldest and newest samples of the trail, if they span at least a quarter of the horizon."""
    if len(trail) < 2:
        return None
    first, last = trail[0], trail[-1]
    if last[0] - first[0] < horizon / 4:
        return None
    return first, last


def speed_kmh(trail: Trail, horizon: float, homography: Homography | None) -> float | None:
    """Mean ground speed over the trail (at most `horizon` seconds long): the smoothing is the horizon itself.
    None without a calibration or before the trail spans a quarter of the horizon; never invented."""
    if homography is None:
        return None
    span = _span(trail, horizon)
    if span is None:
        return None
    (t0, x0, y0), (t1, x1, y1) = span
    g = homography.to_ground(np.array([[x0, y0], [x1, y1]], np.float64))
    metres = math.hypot(*(g[1] - g[0]))
    return metres / (t1 - t0) * 3.6


def displacement_rate(trail: Trail, horizon: float) -> float | None:
    """Image-plane speed in normalised units (share of the frame) per second, for cameras without calibration."""
    span = _span(trail, horizon)
    if span is None:
        return None
    (t0, x0, y0), (t1, x1, y1) = span
    return math.hypot(x1 - x0, y1 - y0) / (t1 - t0)
