"""Scaling + JPEG encoding, and the pool of threads that does it for every camera of a worker.

Between a camera's reader and this pool sits a slot of one or two frames: when the pool is busy the reader does
not wait, the oldest pending frame is dropped (and counted), so a slow encoder never turns into latency.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from streams.ingest import metrics as m
from streams.ingest.frames import DecodedFrame
from streams.ingest.masks import Polygon, apply_masks

__all__ = ["Encodable", "EncoderPool", "encode_frame", "fit_within"]

log = logging.getLogger(__name__)


def fit_within(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio within the caps (0 = no cap); never upscales; even sizes."""
    scale = 1.0
    if max_width and width > max_width:
        scale = min(scale, max_width / width)
    if max_height and height > max_height:
        scale = min(scale, max_height / height)
    if scale >= 1.0:
        return width, height
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def encode_frame(
    df: DecodedFrame, max_width: int, max_height: int, quality: int, masks: Sequence[Polygon] = ()
) -> tuple[bytes, int, int]:
    """JPEG bytes, width, height of a frame scaled to fit the caps, with the privacy `masks` painted black.

    A JPEG that already fits is passed through untouched only when the camera has no mask; with masks it is
    decoded, masked and encoded again (a camera's own JPEG never reaches Kafka unmasked).
    """
    w, h = fit_within(df.width, df.height, max_width, max_height)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    if df.jpeg is not None:
        if (w, h) == (df.width, df.height) and not masks:
            return df.jpeg, w, h
        img = cv2.imdecode(np.frombuffer(df.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"the camera sent a JPEG that does not decode ({len(df.jpeg)} bytes)")
        if img.shape[1] != w or img.shape[0] != h:
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    else:
        assert df.frame is not None
        # swscale converts and scales in one pass, cheaper than to_ndarray() + cv2.resize()
        img = df.frame.to_ndarray(width=w, height=h, format="bgr24")
    apply_masks(img, masks)
    ok, buf = cv2.imencode(".jpg", img, params)
    if not ok:
        raise ValueError(f"JPEG encoding failed for a {w}x{h} frame")
    return buf.tobytes(), w, h


class Encodable(Protocol):
    """A camera as the pool sees it: something with pending frames to encode and produce."""

    def encode_next(self) -> bool:
        """Encode and produce the oldest pending frame; True when more are pending."""


class EncoderPool:
    """Threads that serve cameras with pending frames. A camera is queued at most once, so one camera's frames
    are encoded and produced in order."""

    def __init__(self, threads: int) -> None:
        self._ready: queue.SimpleQueue[Encodable | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve, name=f"ingest-encoder-{i}", daemon=True) for i in range(threads)
        ]
        for t in self._threads:
            t.start()

    def submit(self, camera: Encodable) -> None:
        self._ready.put(camera)

    def _serve(self) -> None:
        while True:
            cam = self._ready.get()
            if cam is None:
                return
            t0 = time.perf_counter()
            try:
                more = cam.encode_next()
            except Exception:  # one camera's bad frame must not take the pool down
                log.exception("encoding a frame failed")
                more = False
            m.ENCODE_SECONDS.observe(time.perf_counter() - t0)
            if more:
                self._ready.put(cam)

    def close(self, timeout: float = 10.0) -> None:
        for _ in self._threads:
            self._ready.put(None)
        for t in self._threads:
            t.join(timeout)
