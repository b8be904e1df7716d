"""Image -> model input, matching Ultralytics' `LetterBox(auto=True)` so our boxes equal theirs."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from inference.errors import BadFrameError

__all__ = ["Letterbox", "decode_jpeg", "letterbox", "to_batch"]

_PAD_VALUE = (114, 114, 114)


@dataclass(frozen=True)
class Letterbox:
    """A letterboxed image (HWC, BGR, uint8) and how to map its pixels back to the original frame."""

    image: npt.NDArray[np.uint8]
    orig_shape: tuple[int, int]  # (h, w) of the original frame

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.image.shape[0]), int(self.image.shape[1]))


def decode_jpeg(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode a JPEG (or any image OpenCV reads) to BGR; raise BadFrameError if it is not an image."""
    arr = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(arr, cv2.IMREAD_COLOR) if arr.size else None
    if img is None:
        raise BadFrameError(
            f"Frame image ({len(data)} bytes, starts {bytes(data[:4])!r}) is not a decodable JPEG; "
            "check the camera's encoder or the ingest stage."
        )
    return img  # type: ignore[return-value]


def letterbox(img: npt.NDArray[np.uint8], imgsz: int = 640, stride: int = 32, rect: bool = True) -> Letterbox:
    """Scale the longer side to `imgsz` and pad with grey (114) to a multiple of `stride` (rect=True,
    Ultralytics' default for predict) or to a square `imgsz` x `imgsz` (rect=False)."""
    h, w = img.shape[:2]
    r = min(imgsz / h, imgsz / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = imgsz - new_w, imgsz - new_h
    if rect:
        dw, dh = dw % stride, dh % stride
    dw2, dh2 = dw / 2, dh / 2
    if (w, h) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)  # type: ignore[assignment]
    top, bottom = round(dh2 - 0.1), round(dh2 + 0.1)
    left, right = round(dw2 - 0.1), round(dw2 + 0.1)
    out = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=_PAD_VALUE)
    return Letterbox(image=out, orig_shape=(h, w))  # type: ignore[arg-type]


def to_batch(items: list[Letterbox]) -> npt.NDArray[np.float32]:
    """Stack same-shape letterboxed images into an NCHW float32 RGB tensor scaled to [0, 1]."""
    stacked = np.stack([it.image for it in items])  # N,H,W,C BGR
    chw = stacked[..., ::-1].transpose(0, 3, 1, 2)  # BGR->RGB, NHWC->NCHW
    return np.ascontiguousarray(chw, dtype=np.float32) * np.float32(1 / 255)
