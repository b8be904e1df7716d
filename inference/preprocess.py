"""Image -> model input, matching Ultralytics' `LetterBox(auto=True)` so our boxes equal theirs."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import BadFrameError
from schemas.jpeg import jpeg_size

__all__ = ["FrameLimits", "Letterbox", "check_frame", "decode_jpeg", "letterbox", "to_batch"]

_PAD_VALUE = (114, 114, 114)


@dataclass(frozen=True)
class Letterbox:
    """A letterboxed image (HWC, BGR, uint8) and how to map its pixels back to the original frame."""

    image: npt.NDArray[np.uint8]
    orig_shape: tuple[int, int]  # (h, w) of the original frame

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.image.shape[0]), int(self.image.shape[1]))


@dataclass(frozen=True)
class FrameLimits:
    """What a frame must be before it is decoded; anything else is a BadFrameError (and a dead letter)."""

    max_pixels: int = 4096 * 4096
    encodings: tuple[str, ...] = ("jpeg",)


def check_frame(data: bytes, encoding: str, limits: FrameLimits) -> tuple[int, int]:
    """(height, width) from the JPEG header, after checking the encoding, emptiness and the size limit."""
    if encoding.lower() not in limits.encodings:
        raise BadFrameError(
            f"Frame encoding {encoding!r} is not supported; inference reads {', '.join(limits.encodings)}. "
            "Fix the producer of its.frames.v1 (the ingest stage writes 'jpeg').",
            reason="unsupported-encoding",
        )
    if not data:
        raise BadFrameError(
            "Frame image is empty (0 bytes); check the camera's encoder or the ingest stage.", reason="empty-image"
        )
    size = jpeg_size(data)
    if size is None:
        raise BadFrameError(
            f"Frame image ({len(data)} bytes, starts {bytes(data[:4])!r}) is not a decodable JPEG (no frame "
            "header); check the camera's encoder or the ingest stage.",
            reason="jpeg-decode",
        )
    w, h = size
    if w == 0 or h == 0:
        raise BadFrameError(
            f"Frame image is {w}x{h} pixels (zero-size); check the camera's encoder or the ingest stage.",
            reason="empty-image",
        )
    if w * h > limits.max_pixels:
        raise BadFrameError(
            f"Frame image is {w}x{h} = {w * h} pixels, above the limit of {limits.max_pixels}. Lower the "
            "camera's max_width/max_height (`itscam cameras update`) or raise ITS_INFERENCE_MAX_IMAGE_PIXELS.",
            reason="image-too-large",
        )
    return h, w


def _reduction(h: int, w: int, imgsz: int) -> int:
    """Largest libjpeg DCT scale (1, 2, 4, 8) that still leaves at least `imgsz` pixels on the scaled side."""
    r = min(imgsz / h, imgsz / w)
    for k in (8, 4, 2):
        if r * k <= 1:
            return k
    return 1


_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def decode_jpeg(data: bytes, reduce_to: int | None = None) -> npt.NDArray[np.uint8]:
    """Decode a JPEG to BGR; raise BadFrameError if it is not an image.

    With `reduce_to` (the model's imgsz), a frame at least twice that size is decoded at 1/2, 1/4 or 1/8 scale
    inside libjpeg (IDCT scaling): several times cheaper than a full decode and a resize, with the letterbox
    geometry unchanged (see `letterbox(orig_shape=...)`).
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    flag = cv2.IMREAD_COLOR
    if reduce_to and arr.size:
        size = jpeg_size(data)
        if size is not None and size[0] and size[1]:
            flag = _REDUCED[_reduction(size[1], size[0], reduce_to)]
    img = cv2.imdecode(arr, flag) if arr.size else None
    if img is None:
        raise BadFrameError(
            f"Frame image ({len(data)} bytes, starts {bytes(data[:4])!r}) is not a decodable JPEG; "
            "check the camera's encoder or the ingest stage.",
            reason="jpeg-decode",
        )
    return img  # type: ignore[return-value]


def letterbox(
    img: npt.NDArray[np.uint8],
    imgsz: int = 640,
    stride: int = 32,
    rect: bool = True,
    orig_shape: tuple[int, int] | None = None,
    shape: tuple[int, int] | None = None,
) -> Letterbox:
    """Scale the longer side to `imgsz` and pad with grey (114) to a multiple of `stride` (rect=True,
    Ultralytics' default for predict) or to a square `imgsz` x `imgsz` (rect=False). A fixed `shape` (h, w),
    for models with a static input (TensorRT engines, static ONNX), fits the frame into exactly that.

    `orig_shape` (h, w) is the frame's size when `img` was decoded at reduced scale: the output geometry and
    the box mapping are those of the full-size frame."""
    h, w = orig_shape or img.shape[:2]
    th, tw = shape or (imgsz, imgsz)
    r = min(th / h, tw / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = tw - new_w, th - new_h
    if rect and shape is None:
        dw, dh = dw % stride, dh % stride
    dw2, dh2 = dw / 2, dh / 2
    if (img.shape[1], img.shape[0]) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)  # type: ignore[assignment]
    top, bottom = round(dh2 - 0.1), round(dh2 + 0.1)
    left, right = round(dw2 - 0.1), round(dw2 + 0.1)
    out = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=_PAD_VALUE)
    return Letterbox(image=out, orig_shape=(h, w))  # type: ignore[arg-type]


def to_batch(items: list[Letterbox]) -> npt.NDArray[np.float32]:
    """Stack same-shape letterboxed images into an NCHW float32 RGB tensor scaled to [0, 1].

    OpenCV's blobFromImages does the channel swap, layout change and scaling in one pass (2.5x faster than the
    equivalent numpy chain on the 2-core box, bit-identical)."""
    return cv2.dnn.blobFromImages([it.image for it in items], scalefactor=1 / 255, swapRB=True)  # type: ignore[return-value]
