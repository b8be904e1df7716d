"""Frames in, detections out: decode, letterbox, batch by input shape, run the backend, decode boxes."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from inference.backends import Backend
from inference.postprocess import postprocess
from inference.preprocess import Letterbox, letterbox, to_batch

__all__ = ["Detector", "FrameResult"]


@dataclass
class FrameResult:
    """Detections of one frame as [n, 6] (x1, y1, x2, y2, conf, class_id) plus per-step milliseconds."""

    boxes: npt.NDArray[np.float32]
    orig_shape: tuple[int, int]
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    batch_size: int
    decode_ms: float = 0.0


class Detector:
    def __init__(
        self, backend: Backend, imgsz: int = 640, conf: float = 0.25, iou: float = 0.7, max_det: int = 300
    ) -> None:
        self.backend = backend
        self.imgsz = imgsz
        self.conf = conf
        self.iou = iou
        self.max_det = max_det

    @property
    def model_name(self) -> str:
        return Path(self.backend.model_path).stem

    def warmup(self, shape: tuple[int, int] = (720, 1280)) -> None:
        self.detect([np.full((*shape, 3), 114, dtype=np.uint8)])

    def detect(self, images: list[npt.NDArray[np.uint8]]) -> list[FrameResult]:
        """Detect on BGR images. Images whose letterboxed shapes match run as one batch."""
        t0 = time.perf_counter()
        boxes_in = [letterbox(img, self.imgsz) for img in images]
        pre_ms = (time.perf_counter() - t0) * 1000 / max(len(images), 1)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, lb in enumerate(boxes_in):
            groups[lb.shape].append(i)
        results: list[FrameResult | None] = [None] * len(images)
        for shape, idxs in groups.items():
            self._run_group(shape, [boxes_in[i] for i in idxs], idxs, results, pre_ms)
        return [r for r in results if r is not None]

    def _run_group(
        self,
        shape: tuple[int, int],
        items: list[Letterbox],
        idxs: list[int],
        results: list[FrameResult | None],
        pre_ms: float,
    ) -> None:
        t0 = time.perf_counter()
        batch = to_batch(items)
        t1 = time.perf_counter()
        raw = self.backend.run(batch)
        t2 = time.perf_counter()
        outs = [
            postprocess(raw[k], shape, it.orig_shape, self.conf, self.iou, self.max_det) for k, it in enumerate(items)
        ]
        t3 = time.perf_counter()
        n = len(items)
        for k, i in enumerate(idxs):
            results[i] = FrameResult(
                boxes=outs[k],
                orig_shape=items[k].orig_shape,
                preprocess_ms=pre_ms + (t1 - t0) * 1000 / n,
                inference_ms=(t2 - t1) * 1000 / n,
                postprocess_ms=(t3 - t2) * 1000 / n,
                batch_size=n,
            )
