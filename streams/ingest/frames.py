"""What a camera source yields: one decoded (or already JPEG-encoded) frame with its stream time."""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

__all__ = ["DecodedFrame"]


@dataclass(frozen=True)
class DecodedFrame:
    """A frame from a source.

    Exactly one of `frame` (decoded pixels, converted to BGR only when asked: most frames are sampled away)
    and `jpeg` (an already-encoded JPEG, e.g. an MJPEG camera's frame passed through untouched) is set.
    `t` is the presentation time in seconds on the source's clock; `pts_us` the same in microseconds when the
    source has timestamps at all.
    """

    t: float
    pts_us: int | None
    width: int
    height: int
    frame: av.VideoFrame | None = None
    jpeg: bytes | None = None

    def bgr(self) -> npt.NDArray[np.uint8]:
        if self.frame is None:
            raise ValueError("this frame carries a JPEG, not decoded pixels")
        return self.frame.to_ndarray(format="bgr24")  # type: ignore[return-value]
