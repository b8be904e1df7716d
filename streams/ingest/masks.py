"""Privacy masks: a camera's zones of kind "privacy" are painted black on every frame before it is encoded, so the
masked pixels never reach Kafka (frames, stills, anything downstream).

Coordinates are normalised (0..1, origin top-left); they are scaled to the frame actually encoded (after the
size caps), so a mask covers the same part of the picture at any size. The analytics stage ignores these zones
(it only reads the kinds it knows: approach, stop, occupancy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["PRIVACY_KIND", "Polygon", "apply_masks", "privacy_masks"]

PRIVACY_KIND = "privacy"

#: one polygon as normalised (x, y) points
Polygon = tuple[tuple[float, float], ...]


def privacy_masks(zones: Sequence[Any]) -> tuple[Polygon, ...]:
    """The polygons of a CameraConfig's zones of kind "privacy" (empty: the camera has no mask)."""
    return tuple(
        tuple((float(p["x"]), float(p["y"])) for p in z["points"])
        for z in zones
        if z.get("kind") == PRIVACY_KIND and len(z.get("points") or ()) >= 3
    )


def apply_masks(img: npt.NDArray[Any], masks: Sequence[Polygon]) -> npt.NDArray[Any]:
    """Fill every mask polygon with black, in place (the array is returned for convenience).

    Edges are rounded outwards (a point on 1.0 reaches the last pixel), lines anti-aliasing off: a masked pixel is
    exactly 0 before JPEG encoding.
    """
    if not masks:
        return img
    h, w = img.shape[:2]
    scale = np.array([w, h], dtype=np.float64)
    polys = [np.rint(np.asarray(poly, dtype=np.float64) * scale).astype(np.int32) for poly in masks]
    cv2.fillPoly(img, polys, (0, 0, 0), lineType=cv2.LINE_8)
    return img
