"""Plane geometry of counting: anchors, which side of a line a point is on, segment crossings, zones, homography.

Image coordinates throughout: x to the right, y downwards. Lines arrive normalised (0..1) and are scaled to the
frame's pixels before use, so distances are isotropic; zones are rasterised on a normalised grid (ZoneGrid).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = [
    "Anchor",
    "Crossing",
    "Homography",
    "ZoneGrid",
    "anchor_points",
    "cross_segment",
    "motion_of",
    "side_distance",
]

FloatArray = npt.NDArray[np.float64]


class Anchor(StrEnum):
    """Which point of a box stands for the vehicle."""

    CENTER = "center"
    BOTTOM_CENTER = "bottom_center"
    TOP_CENTER = "top_center"


def anchor_points(xyxy: FloatArray, anchor: Anchor) -> FloatArray:
    """(n, 2) anchor points of (n, 4) boxes."""
    x = (xyxy[:, 0] + xyxy[:, 2]) / 2.0
    if anchor is Anchor.CENTER:
        y = (xyxy[:, 1] + xyxy[:, 3]) / 2.0
    elif anchor is Anchor.BOTTOM_CENTER:
        y = xyxy[:, 3]
    else:
        y = xyxy[:, 1]
    out = np.empty((len(xyxy), 2))
    out[:, 0], out[:, 1] = x, y
    return out


def side_distance(a: tuple[float, float], b: tuple[float, float], p: tuple[float, float]) -> float:
    """Signed distance of `p` from the infinite line through a->b: negative on its left as seen on the image (for a
    segment drawn left to right, above it), positive on its right."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    return (dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / math.hypot(dx, dy)


@dataclass(frozen=True)
class Crossing:
    """Where and when a path met a segment: `t` is the fraction (0..1) of the path, (x, y) the point."""

    t: float
    x: float
    y: float


def cross_segment(
    a: tuple[float, float], b: tuple[float, float], p0: tuple[float, float], p1: tuple[float, float]
) -> Crossing | None:
    """The point where the straight path p0->p1 meets segment a-b, if it does.

    The path between two samples is interpolated rather than requiring a sample near the line, so a fast vehicle
    that is on one side in one frame and well past the line in the next still crosses it.
    """
    d0 = side_distance(a, b, p0)
    d1 = side_distance(a, b, p1)
    if d0 * d1 >= 0:  # both on one side, or an end on the line: no crossing
        return None
    t = d0 / (d0 - d1)
    x = p0[0] + t * (p1[0] - p0[0])
    y = p0[1] + t * (p1[1] - p0[1])
    ax, ay = b[0] - a[0], b[1] - a[1]
    u = ((x - a[0]) * ax + (y - a[1]) * ay) / (ax * ax + ay * ay)
    if not -1e-9 <= u <= 1.0 + 1e-9:
        return None
    return Crossing(t=t, x=x, y=y)


def motion_of(p0: tuple[float, float], p1: tuple[float, float]) -> str:
    """UP, DOWN, LEFT or RIGHT: the dominant axis of the move p0 -> p1 in image coordinates."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    if abs(dx) > abs(dy):
        return "RIGHT" if dx > 0 else "LEFT"
    return "DOWN" if dy > 0 else "UP"


class ZoneGrid:
    """Zones rasterised on a coarse normalised grid: point-in-zone look-ups and box coverage without polygon
    clipping. At 160x90 cells a cell is 8 px of a 1280x720 frame, finer than box jitter."""

    W, H = 160, 90

    def __init__(self, polygons: list[list[tuple[float, float]]]) -> None:
        self.masks: list[npt.NDArray[np.bool_]] = []
        for poly in polygons:
            m = np.zeros((self.H, self.W), np.uint8)
            pts = np.array([[x * self.W, y * self.H] for x, y in poly], np.float64)
            cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
            self.masks.append(m.astype(bool))
        self.union = np.logical_or.reduce(self.masks) if self.masks else np.ones((self.H, self.W), bool)
        self.area = int(self.union.sum())

    def contains(self, index: int, x: float, y: float) -> bool:
        """Whether normalised point (x, y) is inside zone `index`."""
        i = min(max(int(y * self.H), 0), self.H - 1)
        j = min(max(int(x * self.W), 0), self.W - 1)
        return bool(self.masks[index][i, j])

    def coverage(self, boxes: FloatArray) -> float:
        """Share (0..1) of the zones' union covered by the union of normalised (n, 4) boxes."""
        if not self.area:
            return 0.0
        return _covered(np.asarray(boxes, np.float64).reshape(-1, 4), self.union) / self.area


@njit(cache=True, nogil=True)
def _covered(boxes: FloatArray, union: npt.NDArray[np.bool_]) -> int:
    """Cells of `union` inside at least one of the normalised boxes (a cell counts when a box reaches into it)."""
    rows, cols = union.shape
    covered = np.zeros((rows, cols), np.bool_)
    for b in range(boxes.shape[0]):
        j1, j2 = max(int(boxes[b, 0] * cols), 0), min(math.ceil(boxes[b, 2] * cols), cols)
        i1, i2 = max(int(boxes[b, 1] * rows), 0), min(math.ceil(boxes[b, 3] * rows), rows)
        for i in range(i1, i2):
            for j in range(j1, j2):
                covered[i, j] = True
    n = 0
    for i in range(rows):
        for j in range(cols):
            if covered[i, j] and union[i, j]:
                n += 1
    return n


class Homography:
    """Image plane (normalised) -> ground plane (metres), from four point pairs."""

    def __init__(self, image_points: list[tuple[float, float]], ground_points: list[tuple[float, float]]) -> None:
        src = np.array(image_points, np.float32)
        dst = np.array(ground_points, np.float32)
        if src.shape != (4, 2) or dst.shape != (4, 2):
            raise ValueError("a homography needs exactly 4 image points and 4 ground points")
        try:
            h = cv2.getPerspectiveTransform(src, dst)
        except cv2.error:
            h = np.full((3, 3), np.nan)
        if not np.all(np.isfinite(h)) or abs(np.linalg.det(h)) < 1e-12:
            raise ValueError(
                f"the 4 image points {image_points} and ground points {ground_points} give no usable homography: "
                "no three of either set may lie on one line"
            )
        self.matrix = h.astype(np.float64)

    def to_ground(self, points: FloatArray) -> FloatArray:
        """(n, 2) normalised image points -> (n, 2) ground points in metres."""
        if len(points) == 0:
            return np.zeros((0, 2))
        out = cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), self.matrix)
        return np.asarray(out.reshape(-1, 2), dtype=np.float64)
