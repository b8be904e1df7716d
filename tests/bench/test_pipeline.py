"""The end-to-end bench (`itscam bench inference`'s pipeline part, bench/pipeline.py): our four stages as their own
processes on a short clip, timed from the first frame produced to the last frame projected, with the count the
projector wrote. Real Kafka, PostgreSQL and Redis from the local stack."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from bench.conditions import degraded_clip
from bench.counting import load_clips
from bench.pipeline import run_ours
from deploy.stack.settings import StackSettings
from tests.conftest import MODEL, SHARED


def test_the_pipeline_bench_projects_every_frame_of_a_clip_and_its_count(
    bootstrap: str, pg_dsn: str, stack: StackSettings, tmp_path: Path
) -> None:
    highway = next(c for c in load_clips(SHARED / "data") if c.name.startswith("highway"))
    gt = json.loads((SHARED / "data" / "ground_truth.json").read_text())["clips"][highway.name]
    window = 4.0  # 120 frames; the hand count's crossings before it: frames 15-97 (6), the next at 140
    truth = sum(f < window * gt["fps"] for f in gt["crossing_frames_approx"])
    short = replace(degraded_clip(highway, "clean", tmp_path, seconds=window), truth=truth)
    env = {"ITS_INFERENCE_BACKEND": "onnxruntime", "ITS_INFERENCE_MODEL_PATH": str(MODEL)}
    logs = tmp_path / "logs"
    logs.mkdir()
    res = run_ours(short, bootstrap, pg_dsn, stack.redis_url, env, logs)
    assert res["frames"] == round(window * gt["fps"]), res  # every frame, none sampled away
    # seconds and fps are each rounded from the unrounded time: compared within the rounding
    assert 0 < res["seconds"] < 120 and abs(res["fps"] - res["frames"] / res["seconds"]) <= 0.1
    assert truth == 6 and abs(res["count"] - truth) <= 1, (res, truth)
