"""Values a detection event must hold before it may touch a camera's state.

Avro checks types, not values: a frame 0 pixels wide, a NaN or infinite box, a box with x2 < x1 or coordinates far
outside the frame would divide by zero in the tracker or carry NaN into the Kalman filters, windows and speeds of
the camera's state, and so into every later event. Such a frame is refused as a whole (dead-lettered with its
coordinates by the caller) and the state stays as it was.
"""

from __future__ import annotations

from math import isfinite

from schemas.events import DetectionsProduced

__all__ = ["MAX_FRAME_SIDE", "bad_value"]

#: largest frame side accepted, in pixels (16K video is 15360 wide)
MAX_FRAME_SIDE = 32768
#: how far outside the frame a box may reach, as a share of the frame's side (detectors overshoot a little)
_MARGIN = 0.5
_MAX_DETECTIONS = 10_000


def bad_value(ev: DetectionsProduced) -> str | None:
    """Why `ev` cannot be applied, or None when it can."""
    w, h = ev["width"], ev["height"]
    if not (0 < w <= MAX_FRAME_SIDE and 0 < h <= MAX_FRAME_SIDE):
        return f"frame size {w}x{h} is not between 1 and {MAX_FRAME_SIDE} pixels a side"
    dets = ev["detections"]
    if len(dets) > _MAX_DETECTIONS:
        return f"{len(dets)} detections in one frame (at most {_MAX_DETECTIONS})"
    lo_x, hi_x, lo_y, hi_y = -_MARGIN * w, (1 + _MARGIN) * w, -_MARGIN * h, (1 + _MARGIN) * h
    for i, d in enumerate(dets):
        x1, y1, x2, y2, conf = d["x1"], d["y1"], d["x2"], d["y2"], d["confidence"]
        if not (isfinite(x1) and isfinite(y1) and isfinite(x2) and isfinite(y2) and isfinite(conf)):
            return f"detection {i} has a value that is not a finite number"
        if not (x1 < x2 and y1 < y2):
            return f"detection {i} box ({x1}, {y1}, {x2}, {y2}) is empty or inverted"
        if x1 < lo_x or x2 > hi_x or y1 < lo_y or y2 > hi_y:
            return f"detection {i} box ({x1}, {y1}, {x2}, {y2}) lies far outside the {w}x{h} frame"
        if not 0.0 <= conf <= 1.0:
            return f"detection {i} confidence {conf} is not between 0 and 1"
    return None
