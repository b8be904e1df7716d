"""The two-stage pipeline under the worker: JPEG decoding and the model sessions.

With a decode pool (the GPU default: a thread per core) each submitted batch is split into frames on it (check,
JPEG decode, letterbox: OpenCV releases the GIL); when its last frame is ready the batch goes to the next free model
session, so decoding of the next batch overlaps inference of the current one. Without one (the CPU default) a session
decodes its own batch and then runs it, and another session's inference overlaps that decoding.

On CPU a small model like YOLO11n scales poorly across intra-op threads: on the 2-core box one session with
2 threads ran 36 frames/s, two sessions with 1 thread each ran 57 frames/s on the same frames. ONNX Runtime
releases the GIL, so threads are enough. On a GPU one session (one CUDA stream) is the norm.

A batch the model raises on is retried frame by frame, so only the frame(s) that make it raise become
dead letters (reason `model-error`) and the rest of the batch is detected as usual.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from inference.backends import PostParams, load_backend
from inference.detector import Detector, FrameResult, Prepared
from inference.errors import BadFrameError
from inference.model import resolve_classes
from inference.preprocess import FrameLimits

if TYPE_CHECKING:
    from inference.settings import InferenceSettings

__all__ = ["BatchResult", "DetectorPool"]

log = logging.getLogger(__name__)

#: per input frame: its detections, or why it could not be detected
BatchResult = list[FrameResult | BadFrameError]


class DetectorPool:
    def __init__(
        self, detectors: list[Detector], decode_workers: int = 0, limits: FrameLimits | None = None, inflight: int = 0
    ) -> None:
        if not detectors:
            raise ValueError("DetectorPool needs at least one detector.")
        self.detectors = detectors
        self.limits = limits or FrameLimits()
        self._inflight = inflight
        self._free: queue.Queue[Detector] = queue.Queue()
        for d in detectors:
            self._free.put(d)
        self.sessions = ThreadPoolExecutor(max_workers=len(detectors), thread_name_prefix="model")
        # decode_workers 0: each session decodes its own batch before running it (CPU: the cores are the
        # sessions', and a core that decodes then infers keeps its caches; another session's inference overlaps
        # the decoding). Otherwise a decode pool feeds the sessions (GPU: every core decodes for the device).
        self.decoders = (
            ThreadPoolExecutor(max_workers=decode_workers, thread_name_prefix="decode") if decode_workers else None
        )

    @classmethod
    def from_settings(cls, s: InferenceSettings) -> DetectorPool:
        if s.backend == "auto":
            from inference.autoselect import choose

            s = choose(s)
        cpu = s.backend in ("onnxruntime", "openvino")
        n = s.workers or ((os.cpu_count() or 1) if cpu else 1)
        backends = [
            load_backend(s.backend, s.model_path, s.threads, s.spin, s.device, s.half, s.imgsz, s.precision)
            for _ in range(n)
        ]
        params = PostParams(s.low_conf, s.iou, s.max_det, resolve_classes(s.classes, backends[0].meta.class_names))
        detectors = [Detector(b, s.imgsz, params, s.reduced_decode) for b in backends]
        # CPU: sessions decode their own batches; GPU: every core decodes for the one session
        decoders = s.decode_workers or (0 if cpu else os.cpu_count() or 1)
        return cls(detectors, decoders, FrameLimits(max_pixels=s.max_image_pixels), s.inflight_batches)

    @property
    def size(self) -> int:
        return len(self.detectors)

    @property
    def depth(self) -> int:
        """Batches kept in flight: by default two per session plus one being decoded, so the sessions still
        have work queued while the worker's thread is busy committing a transaction."""
        return self._inflight or 2 * len(self.detectors) + 1

    @property
    def first(self) -> Detector:
        return self.detectors[0]

    def warmup(self) -> None:
        list(self.sessions.map(lambda d: d.warmup(), self.detectors))

    def submit(self, frames: list[tuple[bytes, str]]) -> Future[BatchResult]:
        """Decode and detect one batch of (image bytes, encoding); the future resolves in the model stage."""
        out: Future[BatchResult] = Future()
        if not frames:
            out.set_result([])
            return out
        prepared: list[Prepared | BadFrameError | None] = [None] * len(frames)
        if self.decoders is None:  # decode on the session's own thread, then infer
            self.sessions.submit(self._decode_and_infer, frames, prepared, out)
            return out
        decoders = self.decoders
        left = [len(frames)]
        lock = threading.Lock()

        def decode_one(i: int, data: bytes, encoding: str) -> None:
            prepared[i] = self._prepare(data, encoding)
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self.sessions.submit(self._infer, prepared, out)

        for i, (data, encoding) in enumerate(frames):
            decoders.submit(decode_one, i, data, encoding)
        return out

    def _prepare(self, data: bytes, encoding: str) -> Prepared | BadFrameError:
        try:
            return self.first.prepare_jpeg(data, encoding, self.limits)
        except BadFrameError as e:
            return e
        except Exception as e:  # OpenCV can raise cv2.error on truncated data
            return BadFrameError(f"Frame image could not be decoded: {e}", reason="jpeg-decode")

    def _decode_and_infer(
        self, frames: list[tuple[bytes, str]], prepared: list[Prepared | BadFrameError | None], out: Future[BatchResult]
    ) -> None:
        try:
            for i, (data, encoding) in enumerate(frames):
                prepared[i] = self._prepare(data, encoding)
        except BaseException as e:
            out.set_exception(e)
            return
        self._infer(prepared, out)

    def _infer(self, prepared: list[Prepared | BadFrameError | None], out: Future[BatchResult]) -> None:
        det = self._free.get()
        try:
            good = [p for p in prepared if isinstance(p, Prepared)]
            results = iter(self._detect(det, good))
            res: BatchResult = []
            for p in prepared:
                if isinstance(p, Prepared):
                    r = next(results)
                    if isinstance(r, FrameResult):
                        r.decode_ms = p.decode_ms
                        r.preprocess_ms += p.preprocess_ms
                    res.append(r)
                else:
                    assert p is not None
                    res.append(p)
            out.set_result(res)
        except BaseException as e:
            out.set_exception(e)
        finally:
            self._free.put(det)

    def _detect(self, det: Detector, good: list[Prepared]) -> BatchResult:
        if not good:
            return []
        try:
            return list(det.infer([p.letterbox for p in good]))
        except Exception as e:
            if len(good) == 1:
                log.warning("model failed on a frame", extra={"error": str(e)})
                return [
                    BadFrameError(
                        f"The model ({det.backend.name}, {det.backend.model_path}) raised on this frame: "
                        f"{type(e).__name__}: {e}. The frame was skipped; if many frames fail, check the model "
                        "and the frames' sizes.",
                        reason="model-error",
                    )
                ]
        # Find the frame(s) it fails on: one at a time, the others still get their detections.
        out: BatchResult = []
        for p in good:
            out.extend(self._detect(det, [p]))
        return out

    def close(self) -> None:
        if self.decoders is not None:
            self.decoders.shutdown(wait=True)
        self.sessions.shutdown(wait=True)
