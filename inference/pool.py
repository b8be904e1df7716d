"""Several single-threaded model sessions side by side, each taking whole batches.

On CPU a small model like YOLO11n scales poorly across intra-op threads: on the 2-core box one session with
2 threads ran 36 frames/s, two sessions with 1 thread each ran 57 frames/s on the same frames. ONNX Runtime
and OpenCV release the GIL, so threads are enough. Each submitted batch runs, JPEG decode included, on one
free session; the caller keeps up to `size` batches in flight and collects them in order.
"""

from __future__ import annotations

import os
import queue
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from inference.backends import load_backend
from inference.detector import Detector, FrameResult
from inference.errors import BadFrameError
from inference.preprocess import decode_jpeg

if TYPE_CHECKING:
    from inference.settings import InferenceSettings

__all__ = ["BatchResult", "DetectorPool"]

#: per input frame: its detections, or why it could not be decoded
BatchResult = list[FrameResult | BadFrameError]


class DetectorPool:
    def __init__(self, detectors: list[Detector]) -> None:
        if not detectors:
            raise ValueError("DetectorPool needs at least one detector.")
        self.detectors = detectors
        self._free: queue.Queue[Detector] = queue.Queue()
        for d in detectors:
            self._free.put(d)
        self.executor = ThreadPoolExecutor(max_workers=len(detectors), thread_name_prefix="detector")

    @classmethod
    def from_settings(cls, s: InferenceSettings) -> DetectorPool:
        n = s.workers or os.cpu_count() or 1
        return cls(
            [
                Detector(load_backend(s.backend, s.model_path, s.threads, s.spin), s.imgsz, s.conf, s.iou, s.max_det)
                for _ in range(n)
            ]
        )

    @property
    def size(self) -> int:
        return len(self.detectors)

    @property
    def first(self) -> Detector:
        return self.detectors[0]

    def warmup(self) -> None:
        list(self.executor.map(lambda d: d.warmup(), self.detectors))

    def submit(self, jpegs: list[bytes]) -> Future[BatchResult]:
        """Decode and detect one batch on the next free session."""
        return self.executor.submit(self._run, jpegs)

    def _run(self, jpegs: list[bytes]) -> BatchResult:
        det = self._free.get()
        try:
            t0 = time.perf_counter()
            decoded: list[npt.NDArray[np.uint8] | BadFrameError] = []
            for data in jpegs:
                try:
                    decoded.append(decode_jpeg(data))
                except BadFrameError as e:
                    decoded.append(e)
            decode_ms = (time.perf_counter() - t0) * 1000 / max(len(jpegs), 1)
            good = [im for im in decoded if not isinstance(im, BadFrameError)]
            results = iter(det.detect(good)) if good else iter(())
            out: BatchResult = []
            for d in decoded:
                if isinstance(d, BadFrameError):
                    out.append(d)
                else:
                    r = next(results)
                    r.decode_ms = decode_ms
                    out.append(r)
            return out
        finally:
            self._free.put(det)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
