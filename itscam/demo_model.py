"""model_fps for `itscam demo`: the inference stage's detector called directly, in this process, on the very JPEG
frames ingest produced for a file (same sampler, same encoder), once the pipeline is idle."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["measure_model_fps", "model_direct", "sampled_jpegs"]


def sampled_jpegs(source: str, fps: float, quality: int) -> list[bytes]:
    """The exact JPEG frames ingest produced for a file source (same sampler, same encoder)."""
    import cv2

    from streams.ingest import FpsSampler, open_frames

    sampler = FpsSampler(fps)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    out = []
    for df in open_frames(source):
        if sampler.accept(df.t):
            ok, buf = cv2.imencode(".jpg", df.bgr(), params)
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for a frame of {source}")
            out.append(buf.tobytes())
    return out


def measure_model_fps(
    jpegs: list[bytes], batch: int, workers: int | None = None, threads: int | None = None
) -> dict[str, Any]:
    """The inference stage's detectors called directly on `jpegs`: JPEG decode + letterbox + model + NMS.

    With no overrides this is exactly the stage's configuration (sessions x threads from InferenceSettings).
    """
    from inference import DetectorPool, InferenceSettings

    s = InferenceSettings()
    if workers is not None:
        s.workers = workers
    if threads is not None:
        s.threads = threads
    pool = DetectorPool.from_settings(s)
    pool.warmup()
    try:
        t0 = time.perf_counter()
        # Like the stage: whole batches on free sessions, results collected in order.
        futures = [pool.submit([(j, "jpeg") for j in jpegs[i : i + batch]]) for i in range(0, len(jpegs), batch)]
        for f in futures:
            f.result()
        wall = time.perf_counter() - t0
    finally:
        pool.close()
    label = f"{len(pool.detectors)} session(s) x {s.threads or 'all'} thread(s), batch {batch}"
    return {"fps": len(jpegs) / wall, "batch": batch, "wall_s": wall, "config": label}


def model_direct(source: str, frames: int, pipeline_fps: float) -> dict[str, Any]:
    """The best model_fps of the stage's configuration and the classic single session on every core at batch 1,
    printed; model_fps is the better of them, so the pipeline's ratio is never flattered by a weak baseline."""
    from inference import InferenceSettings
    from streams.ingest import IngestSettings

    inf, ing = InferenceSettings(), IngestSettings()
    jpegs = sampled_jpegs(source, ing.fps, ing.jpeg_quality)[:frames]
    runs = [measure_model_fps(jpegs, inf.max_batch), measure_model_fps(jpegs, 1, workers=1, threads=0)]
    if inf.max_batch != 1:
        runs.append(measure_model_fps(jpegs, 1))
    best = max(runs, key=lambda r: r["fps"])
    for r in runs:
        print(
            f"model direct: {r['fps']:.2f} frames/s, {r['config']} ({len(jpegs)} frames, "
            f"{r['wall_s']:.2f}s; decode+letterbox+model+NMS)"
        )
    print(f"pipeline_fps / model_fps = {pipeline_fps / best['fps']:.3f}")
    return best
