"""The per-replica throughputs the capacity plan and the KEDA lag thresholds are computed from.

Every figure is read from a results file kept in the repo (bench/results/*.json, tests/gpu/results/*.jsonl)
and carries where it came from and whether it was measured or estimated. deploy/k8s/SCALING.md writes the same
arithmetic down; tests/deploy/kube/test_autoscaling.py recomputes each lagThreshold with `lag_threshold()` and
compares it with the rendered ScaledObjects.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_RESULTS",
    "CAMERAS_PER_INGEST_POD",
    "FRAME_BYTES",
    "GPUS",
    "GPU_RESULTS",
    "PARTITION_MB_S",
    "TARGET_BACKLOG_S",
    "Figure",
    "analytics_fps",
    "api_rps",
    "cpu_inference_fps",
    "gpu_fps",
    "ingest_streams",
    "lag_threshold",
    "projector_events",
]

_REPO = Path(__file__).resolve().parents[2]
BENCH_RESULTS = _REPO / "bench" / "results"
GPU_RESULTS = _REPO / "tests" / "gpu" / "results"
GPUS = ("t4", "a100", "h100")

# Seconds of backlog one replica may hold before KEDA adds another (lagThreshold = per-replica rate x this).
# inference and analytics sit on the live path (a frame's detections and counts are due within seconds), so 2 s;
# the projector writes read models that are read at human pace and batches up to max_batch (5000) events per
# transaction, so a threshold under a batch would scale on the lag of a batch in flight: 5 s.
TARGET_BACKLOG_S: dict[str, float] = {"inference": 2.0, "analytics": 2.0, "projector": 5.0}

# Cameras one ingest pod reads: the seed's default (../shared/ARCHITECTURE.md, services table); ingest.json shows a
# 2-core worker sustains 12 streams at 10 fps decoding every frame (more with key frames only).
CAMERAS_PER_INGEST_POD = 10

# Bytes of one FrameCaptured JPEG: 1280x720 (the camera default cap max_width/max_height) at quality 90 (the
# default jpeg_quality). Measured for this plan on 100 frames of /work/shared/data/highway_overpass_720p.mp4 encoded
# with OpenCV at quality 90: mean 133,124 B, max 140,505 B; the max is used. Not in a results file.
FRAME_BYTES = 140_505

# Write throughput one Kafka partition is planned for. An assumption, not measured here: "tens of MB/s" per
# partition is the usual rule of thumb (Confluent, "How to choose the number of topics/partitions in a Kafka
# cluster?"); the brokers' disks decide the real figure.
PARTITION_MB_S = 25.0


@dataclass(frozen=True)
class Figure:
    """One throughput figure: value, unit, where it came from and whether it was measured."""

    value: float
    unit: str
    source: str
    measured: bool

    @property
    def label(self) -> str:
        return "measured" if self.measured else "ESTIMATED, not measured"


def _json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((BENCH_RESULTS / name).read_text(encoding="utf-8"))
    return data


def _gpu_runs(gpu: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    for path in sorted(GPU_RESULTS.glob(f"{gpu}-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                runs.append(json.loads(line))
    return runs


def gpu_fps(gpu: str) -> Figure:
    """End-to-end frames/s of one inference replica on one GPU of kind `gpu` (t4, a100, h100)."""
    if gpu not in GPUS:
        raise ValueError(f"unknown GPU {gpu!r}: choose one of {', '.join(GPUS)}")
    runs = _gpu_runs(gpu)
    if runs:
        low = min(runs, key=lambda r: float(r["best_end_to_end_fps"]))
        return Figure(
            float(low["best_end_to_end_fps"]),
            "frames/s per GPU",
            f"tests/gpu/results/{gpu}-*.jsonl: lowest best_end_to_end_fps of {len(runs)} runs ({low['device']})",
            True,
        )
    table = _json("gpu-throughput.json")
    ref_name = str(table["reference"])
    ref_runs = _gpu_runs(ref_name)
    if not ref_runs:
        raise ValueError(f"no results for the reference GPU {ref_name}: tests/gpu/results/{ref_name}-*.jsonl")
    ref = min(ref_runs, key=lambda r: float(r["best_end_to_end_fps"]))
    ref_e2e = float(ref["best_end_to_end_fps"])
    spec = table["gpus"][gpu]
    if spec["method"] == "model_rate":
        factor = (1000.0 / float(spec["latency_ms"])) / float(ref["best_fps"])
        how = (
            f"{ref_name} lowest best_end_to_end_fps {ref_e2e} x (1000 / {spec['latency_ms']} ms = "
            f"{1000.0 / float(spec['latency_ms']):.1f} img/s) / that run's best_fps {ref['best_fps']}"
        )
    elif spec["method"] == "peak_ratio":
        factor = float(spec["ratio"])
        how = f"{ref_name} lowest best_end_to_end_fps {ref_e2e} x {factor}"
    else:
        raise ValueError(f"gpu-throughput.json: unknown method {spec['method']!r} for {gpu}")
    return Figure(
        round(ref_e2e * factor, 1),
        "frames/s per GPU",
        f"bench/results/gpu-throughput.json ({how}; {spec['source']})",
        False,
    )


def cpu_inference_fps() -> Figure:
    """Frames/s of one CPU inference replica (ONNX Runtime, the measured 2 sessions x 1 thread on 2 cores)."""
    d = _json("inference.json")
    return Figure(
        float(d["consumer_fps"]),
        f"frames/s per replica ({d['machine']['cores']} cores)",
        "bench/results/inference.json: consumer_fps",
        True,
    )


def analytics_fps() -> Figure:
    """Detection events (= frames) per second one analytics replica (one Faust worker, one event loop) applies."""
    d = _json("analytics.json")
    return Figure(
        float(d["frames_per_s"]),
        "frames/s per replica",
        f"bench/results/analytics.json: frames_per_s (one `itscam analytics` draining {d['events']:,} "
        f"detection events of {d['cameras']} cameras, {d['detections_per_frame']} boxes per frame"
        + (", YOLO11n's detections of the shared clips" if d.get("source") == "clips" else "")
        + ")",
        True,
    )


def projector_events() -> Figure:
    """DetectionsProduced events per second one projector writes to PostgreSQL (the rebuild's catch-up rate)."""
    d = _json("projector.json")
    return Figure(
        float(d["rebuild_events_per_s"]),
        f"events/s per replica ({d['dets_per_frame']} detections per event)",
        "bench/results/projector.json: rebuild_events_per_s",
        True,
    )


def api_rps() -> Figure:
    """Requests per second one API replica (2 workers) answers on the hot /live route."""
    d = _json("api.json")
    return Figure(
        float(d["live"]["rps"]),
        f"req/s per replica ({d['api']['workers']} workers, {d['machine']['cores']} cores)",
        "bench/results/api.json: live.rps",
        True,
    )


def ingest_streams(fps: float) -> Figure:
    """Streams one 2-core ingest worker sustains at the lowest measured sampling rate >= fps, decoding all frames."""
    d = _json("ingest.json")
    rows = sorted((c for c in d["capacity"] if c["decode"] == "all"), key=lambda c: float(c["fps"]))
    fitting = [c for c in rows if float(c["fps"]) >= fps] or rows[-1:]
    row = fitting[0]
    return Figure(
        float(row["streams"]),
        f"cameras per {d['machine']['cores']}-core worker at {row['fps']} fps",
        f"bench/results/ingest.json: capacity[fps={row['fps']}, decode=all].streams",
        True,
    )


def lag_threshold(service: str, hardware: str) -> int:
    """KEDA lagThreshold of `service` (inference, analytics, projector) on `hardware` (cpu or a GPU kind; only
    inference looks at it): per-replica rate x TARGET_BACKLOG_S, rounded down."""
    if service == "inference":
        rate = cpu_inference_fps() if hardware == "cpu" else gpu_fps(hardware)
    elif service == "analytics":
        rate = analytics_fps()
    elif service == "projector":
        rate = projector_events()
    else:
        raise ValueError(f"no lag threshold for {service!r}: inference, analytics or projector")
    return math.floor(rate.value * TARGET_BACKLOG_S[service])
