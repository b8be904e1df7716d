"""Frames in, detections out: check and decode the JPEG, letterbox, batch by input shape, run the backend,
decode boxes. `prepare_jpeg` (decode stage) and `infer` (model stage) are separate so a pool can overlap them."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from inference.backends import Backend, PostParams
from inference.preprocess import FrameLimits, Letterbox, check_frame, decode_jpeg, letterbox, to_batch

__all__ = ["Detector", "FrameResult", "Prepared"]


@dataclass
class FrameResult:
    """Detections of one frame as [n, 6] (x1, y1, x2, y2, conf, class_id) plus per-step milliseconds
    (batch steps divided evenly over the batch)."""

    boxes: npt.NDArray[np.float32]
    orig_shape: tuple[int, int]
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    batch_size: int
    decode_ms: float = 0.0


@dataclass(frozen=True)
class Prepared:
    """One frame after the decode stage: the model input and what it cost."""

    letterbox: Letterbox
    decode_ms: float
    preprocess_ms: float


class Detector:
    def __init__(
        self, backend: Backend, imgsz: int = 640, params: PostParams | None = None, reduced_decode: bool = True
    ) -> None:
        self.backend = backend
        self.imgsz = imgsz
        self.params = params or PostParams()
        self.reduced_decode = reduced_decode

    @property
    def model_name(self) -> str:
        return self.backend.meta.name or Path(self.backend.model_path).stem

    def warmup(self, shape: tuple[int, int] = (720, 1280)) -> None:
        self.detect([np.full((*shape, 3), 114, dtype=np.uint8)])

    # -- decode stage ------------------------------------------------------------------------------
    def prepare_image(self, img: npt.NDArray[np.uint8], orig_shape: tuple[int, int] | None = None) -> Letterbox:
        fixed = self.backend.fixed_hw
        return letterbox(img, self.imgsz, rect=fixed is None, shape=fixed, orig_shape=orig_shape)

    def prepare_jpeg(self, data: bytes, encoding: str = "jpeg", limits: FrameLimits | None = None) -> Prepared:
        """Check, decode (at reduced scale when the frame is much larger than the input) and letterbox one
        frame; BadFrameError (with a reason) when it cannot become a model input."""
        t0 = time.perf_counter()
        orig = check_frame(data, encoding, limits or FrameLimits())
        size = max(self.backend.fixed_hw or (self.imgsz,))
        img = decode_jpeg(data, reduce_to=size if self.reduced_decode else None)
        t1 = time.perf_counter()
        lb = self.prepare_image(img, orig_shape=orig)
        t2 = time.perf_counter()
        return Prepared(lb, decode_ms=(t1 - t0) * 1000, preprocess_ms=(t2 - t1) * 1000)

    # -- model stage -------------------------------------------------------------------------------
    def detect(self, images: list[npt.NDArray[np.uint8]]) -> list[FrameResult]:
        """Detect on decoded BGR images (letterbox included)."""
        t0 = time.perf_counter()
        boxes_in = [self.prepare_image(img) for img in images]
        pre_ms = (time.perf_counter() - t0) * 1000 / max(len(images), 1)
        results = self.infer(boxes_in)
        for r in results:
            r.preprocess_ms += pre_ms
        return results

    def infer(self, items: list[Letterbox]) -> list[FrameResult]:
        """Run letterboxed frames through the model: frames of one input shape run as one batch, split at the
        backend's max_batch. Results come back in input order."""
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, lb in enumerate(items):
            groups[lb.shape].append(i)
        results: list[FrameResult | None] = [None] * len(items)
        step = self.backend.max_batch or len(items) or 1
        for shape, idxs in groups.items():
            for k in range(0, len(idxs), step):
                chunk = idxs[k : k + step]
                for i, r in zip(chunk, self._run(shape, [items[i] for i in chunk]), strict=True):
                    results[i] = r
        return [r for r in results if r is not None]

    def _run(self, shape: tuple[int, int], items: list[Letterbox]) -> list[FrameResult]:
        t0 = time.perf_counter()
        batch = to_batch(items)
        t1 = time.perf_counter()
        raw = self.backend.run(batch)
        t2 = time.perf_counter()
        boxes = self.backend.decode(raw, shape, [it.orig_shape for it in items], self.params)
        t3 = time.perf_counter()
        n = len(items)
        return [
            FrameResult(
                boxes=b,
                orig_shape=it.orig_shape,
                preprocess_ms=(t1 - t0) * 1000 / n,
                inference_ms=(t2 - t1) * 1000 / n,
                postprocess_ms=(t3 - t2) * 1000 / n,
                batch_size=n,
            )
            for b, it in zip(boxes, items, strict=True)
        ]
