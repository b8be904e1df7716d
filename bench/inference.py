"""`itscam bench inference`: what Kafka, Avro and our pipeline cost next to the bare model, and what batching
and pipelining buy over the naive way, all on the same frames in one run.

1. bare model: the same detector pool (backend, imgsz, sessions x threads, max_batch, batches in flight) on the
   JPEG bytes, without Kafka and Avro: what the consumer is held to ("lose almost nothing to Kafka and Avro").
   Also the backend alone on prepared tensors (model only), so the cost of decode + letterbox + NMS shows too.
2. consumer: the real InferenceWorker (kept running) on a backlog of FrameCaptured events in the real Kafka;
   frames/s in the steady part of each round (after the first fifth of the frames was consumed; the whole-round
   figure is kept too). 1 and 2 alternate for `rounds`
   rounds; medians are reported. Then a paced run at 70 % of the consumer's rate gives the P95 a downstream
   consumer sees: capture -> detections produced.
3. naive: Ultralytics `YOLO("yolo11n.pt").predict` called frame by frame on the same JPEGs (decode included), with
   the same imgsz and class filter; frames/s and P95 per frame. Also with the same ONNX file under Ultralytics.

With several backends (`--backends onnxruntime,openvino`, the default on CPU) each gets its own bare model and
consumer, all alternating round after round; the top-level figures are the first backend's, and `backends` plus
the `best_*` keys compare them (bench/backends.py).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench.report import write_results
from eventbus.config import admin_config, client_config

__all__ = ["InferenceBenchConfig", "main_bench", "run_bench"]


@dataclass(frozen=True)
class InferenceBenchConfig:
    bootstrap: str
    clip: Path
    frames: int = 240
    naive_frames: int = 80
    paced_seconds: float = 12.0
    partitions: int = 4
    rounds: int = 5


def _p95(xs: list[float]) -> float:
    return float(np.percentile(np.asarray(xs), 95)) if xs else float("nan")


def clip_jpegs(clip: Path, n: int, quality: int = 90) -> list[bytes]:
    """`n` frames of the clip (every other frame, looping), JPEG-encoded as the ingest stage would."""
    import av
    import cv2

    out: list[bytes] = []
    while len(out) < n:
        with av.open(str(clip)) as c:
            for i, frame in enumerate(c.decode(video=0)):
                if i % 2:
                    continue
                ok, buf = cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, quality])
                if ok:
                    out.append(buf.tobytes())
                if len(out) >= n:
                    break
    return out


class _Bare:
    """The same detector pool without Kafka and Avro: JPEG bytes in, boxes out, batches of max_batch kept in flight
    as the worker keeps them (`direct`); and the backend alone on prepared tensors (`model_only`)."""

    def __init__(self, settings: Any, jpegs: list[bytes]) -> None:
        from inference import DetectorPool
        from inference.preprocess import to_batch

        self.pool = DetectorPool.from_settings(settings)
        self.pool.warmup()
        self.jpegs = jpegs
        self.mb = settings.max_batch
        det = self.pool.first
        items = [det.prepare_jpeg(j).letterbox for j in jpegs]
        self.batches = [to_batch(items[i : i + self.mb]) for i in range(0, len(items), self.mb)]

    def direct(self) -> dict[str, Any]:
        from concurrent.futures import Future

        chunks = [[(j, "jpeg") for j in self.jpegs[i : i + self.mb]] for i in range(0, len(self.jpegs), self.mb)]
        results: list[Any] = []
        inflight: list[Future[Any]] = []
        t0 = time.perf_counter()
        for chunk in chunks:
            if len(inflight) >= self.pool.depth:
                results.append(inflight.pop(0).result())
            inflight.append(self.pool.submit(chunk))
        results.extend(f.result() for f in inflight)
        wall = time.perf_counter() - t0
        # a batch's time on its session: every frame's decode + letterbox + its share of model and NMS
        lat = [sum(r.decode_ms + r.preprocess_ms + r.inference_ms + r.postprocess_ms for r in res) for res in results]
        return {"fps": len(self.jpegs) / wall, "latencies_ms": lat}

    def model_only(self) -> dict[str, Any]:
        todo = list(self.batches)
        lock = threading.Lock()
        lat: list[float] = []

        def session(backend: Any) -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    b = todo.pop()
                t = time.perf_counter()
                backend.run(b)
                with lock:
                    lat.append((time.perf_counter() - t) * 1000)

        threads = [threading.Thread(target=session, args=(d.backend,)) for d in self.pool.detectors]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"fps": len(self.jpegs) / (time.perf_counter() - t0), "latencies_ms": lat}

    def close(self) -> None:
        self.pool.close()


def _topics(bootstrap: str, partitions: int) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    names = {k: f"bench.inference.{k}.{tag}" for k in ("frames", "dets", "dlq")}
    admin = AdminClient(admin_config(bootstrap))
    futs = admin.create_topics(
        [
            NewTopic(n, num_partitions=partitions, replication_factor=1, config={"max.message.bytes": str(8 << 20)})
            for n in names.values()
        ]
    )
    for f in futs.values():
        f.result(30)
    return names


def _delete(bootstrap: str, names: dict[str, str]) -> None:
    admin = AdminClient(admin_config(bootstrap))
    for f in admin.delete_topics(list(names.values()), request_timeout=30).values():
        f.result(30)


def _frame_event(camera: str, seq: int, jpeg: bytes) -> bytes:
    from schemas import codec

    return codec("FrameCaptured").encode(
        {
            "camera_id": camera,
            "frame_seq": seq,
            "captured_at": datetime.now(UTC),
            "source_pts_us": None,
            "width": 1280,
            "height": 720,
            "encoding": "jpeg",
            "image": jpeg,
            "source": "bench",
        }
    )


class _Collector:
    """Reads the detections topic (read_committed) from the start and hands out events as they come."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Consumer

        self.c = Consumer(
            client_config(
                bootstrap,
                **{
                    "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                    "enable.auto.commit": False,
                },
            )
        )
        self.c.subscribe([topic])

    def take(self, n: int, timeout: float) -> list[dict[str, Any]]:
        from schemas import codec

        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            for m in self.c.consume(500, 0.2):
                if m.error() is None:
                    out.append(codec("DetectionsProduced").decode(m.value() or b""))
        if len(out) < n:
            raise RuntimeError(f"only {len(out)} of {n} detections arrived in {timeout:.0f} s; see the worker's log")
        return out

    def close(self) -> None:
        self.c.close()


class _Consumer:
    """The real InferenceWorker on its own topics, kept running across rounds."""

    def __init__(self, cfg: InferenceBenchConfig, settings: Any) -> None:
        from inference import DetectorPool
        from inference.worker import InferenceWorker

        self.cfg = cfg
        self.names = _topics(cfg.bootstrap, cfg.partitions)
        s = settings.model_copy(
            update={
                "frames_topic": self.names["frames"],
                "detections_topic": self.names["dets"],
                "dlq_topic": self.names["dlq"],
                "group_id": f"bench-{self.names['frames']}",
                "transactional_id": f"bench-{self.names['frames']}",
                "metrics_port": 0,
            }
        )
        self.producer = Producer(client_config(cfg.bootstrap, **{"linger.ms": 5, "message.max.bytes": 8 << 20}))
        self.cams = [f"bench-cam-{i}" for i in range(8)]
        self.collector = _Collector(cfg.bootstrap, self.names["dets"])
        pool = DetectorPool.from_settings(s)
        pool.warmup()
        self.worker = InferenceWorker(s, pool)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()
        self.seq = 0

    def _next(self, jpeg: bytes) -> tuple[bytes, bytes]:
        """Key and value of the next frame, cameras taken in turn."""
        cam = self.cams[self.seq % len(self.cams)]
        event = _frame_event(cam, self.seq, jpeg)
        self.seq += 1
        return cam.encode(), event

    def _send(self, key: bytes, value: bytes) -> None:
        self.producer.produce(self.names["frames"], key=key, value=value)
        self.producer.poll(0)

    def backlog_round(self, jpegs: list[bytes]) -> dict[str, Any]:
        """All frames produced at once (encoded beforehand). Frames/s over the steady part of the round: from the
        moment the first fifth of the frames had been consumed (the backlog is written and the pipeline full)
        to the last detections produced."""
        values = [self._next(j) for j in jpegs]
        for key, value in values:
            self._send(key, value)
        self.producer.flush(60)
        events = self.collector.take(len(jpegs), 600)
        consumed = sorted(e["captured_at"].timestamp() + e["timings"]["queued_ms"] / 1000 for e in events)
        produced = [e["produced_at"].timestamp() for e in events]
        start = consumed[len(consumed) // 5]
        steady = sum(1 for c in consumed if c >= start)
        return {
            "fps": steady / (max(produced) - start),
            "fps_whole_round": len(events) / (max(produced) - consumed[0]),
            "in_worker_ms": [
                (e["produced_at"].timestamp() - e["captured_at"].timestamp()) * 1000 - e["timings"]["queued_ms"]
                for e in events
            ],
            "events": events,
        }

    def paced(self, jpegs: list[bytes], rate: float, seconds: float) -> list[dict[str, Any]]:
        """Frames at `rate` per second, each stamped when sent: the latency a downstream consumer sees."""
        n = max(int(rate * seconds), 1)
        t0 = time.monotonic()
        for k in range(n):
            while time.monotonic() < t0 + k / rate:
                time.sleep(0.001)
            self._send(*self._next(jpegs[k % len(jpegs)]))
        self.producer.flush(30)
        return self.collector.take(n, 120)

    def close(self) -> None:
        self.worker.stop()
        self.thread.join(60)
        self.collector.close()
        _delete(self.cfg.bootstrap, self.names)


def _naive(model_path: str, settings: Any, jpegs: list[bytes], classes: list[int] | None) -> dict[str, Any]:
    import cv2

    try:
        from ultralytics import YOLO  # type: ignore[attr-defined]
    except ImportError as e:
        raise RuntimeError(f"The naive peer needs Ultralytics ({e}): run `make install-export`.") from e
    model = YOLO(model_path, task="detect")
    kw = {"imgsz": settings.imgsz, "conf": settings.conf, "iou": settings.iou, "classes": classes, "verbose": False}
    model.predict(cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR), **kw)  # load + warm-up
    lat: list[float] = []
    t0 = time.perf_counter()
    for j in jpegs:
        t = time.perf_counter()
        model.predict(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), **kw)
        lat.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - t0
    return {
        "fps": len(jpegs) / wall,
        "p95_ms": _p95(lat),
        "what": "P95 of decode + predict, one frame per call",
        "model": model_path,
    }


def run_bench(cfg: InferenceBenchConfig, settings: Any, others: list[Any] | None = None) -> dict[str, Any]:
    """`settings` is the backend the top-level figures describe; `others` are backends measured beside it."""
    from bench.backends import compare, gate_coverage, label

    jpegs = clip_jpegs(cfg.clip, cfg.frames)
    print(f"{len(jpegs)} JPEG frames of {cfg.clip.name} (1280x720, quality 90)", flush=True)
    # Bare model and consumer (of every backend) alternate, round after round, so a noisy neighbour on the VM hits
    # all alike; the figures are the medians over rounds.
    rigs: list[tuple[_Bare, _Consumer]] = []
    rounds: list[dict[str, list[dict[str, Any]]]] = []
    try:
        for s in [settings, *(others or [])]:
            rigs.append((_Bare(s, jpegs), _Consumer(cfg, s)))
            rounds.append({"model": [], "bare": [], "consumer": []})
        names = [label(b.pool.first.backend) for b, _ in rigs]
        gates = gate_coverage([b.pool.first for b, _ in rigs], names, cfg.clip.parent)  # untimed, before the rounds
        print(f"accuracy gate (share of fp32 ONNX Runtime's detections found): {gates}", flush=True)
        for r in range(cfg.rounds):
            for name, (b, c), got in zip(names, rigs, rounds, strict=True):
                got["model"].append(b.model_only())
                got["bare"].append(b.direct())
                got["consumer"].append(c.backlog_round(jpegs))
                print(
                    f"round {r + 1} {name}: model only {got['model'][-1]['fps']:.1f}, bare detector "
                    f"{got['bare'][-1]['fps']:.1f}, consumer {got['consumer'][-1]['fps']:.1f} frames/s",
                    flush=True,
                )
        bare_rig, consumer_rig = rigs[0]
        model_rounds, bare_rounds, consumer_rounds = rounds[0]["model"], rounds[0]["bare"], rounds[0]["consumer"]
        consumer_fps = float(np.median([x["fps"] for x in consumer_rounds]))
        rate = 0.7 * consumer_fps
        paced = consumer_rig.paced(jpegs, rate, cfg.paced_seconds)
    finally:
        for b, c in rigs:
            b.close()
            c.close()
    classes = bare_rig.pool.first.params.classes  # the filter as the worker resolved it, for the naive peer
    events = [e for x in consumer_rounds for e in x["events"]]
    bare: dict[str, Any] = {
        "fps": float(np.median([x["fps"] for x in bare_rounds])),
        "p95_ms": _p95([v for x in bare_rounds for v in x["latencies_ms"]]),
        "what": "P95 of one batch on its session: JPEG bytes -> boxes, no Kafka, no Avro",
        "rounds_fps": [round(x["fps"], 2) for x in bare_rounds],
    }
    model_only: dict[str, Any] = {
        "fps": float(np.median([x["fps"] for x in model_rounds])),
        "p95_ms": _p95([v for x in model_rounds for v in x["latencies_ms"]]),
        "what": "P95 of one model call on a prepared batch (no JPEG decode, letterbox or NMS)",
        "rounds_fps": [round(x["fps"], 2) for x in model_rounds],
    }
    consumer: dict[str, Any] = {
        "fps": consumer_fps,
        "p95_ms": _p95([e["timings"]["total_ms"] for e in paced]),
        "what": f"P95 capture -> detections produced at {rate:.1f} frames/s (70 % of the consumer's rate)",
        "rounds_fps": [round(x["fps"], 2) for x in consumer_rounds],
        "rounds_fps_whole_round": [round(x["fps_whole_round"], 2) for x in consumer_rounds],
        "p95_in_worker_under_backlog_ms": _p95([v for x in consumer_rounds for v in x["in_worker_ms"]]),
        "paced_frames": len(paced),
        "paced_fps": rate,
        "mean_batch": float(np.mean([e["timings"]["batch_size"] for e in events])),
        "stage_ms": {
            k: float(np.mean([e["timings"][k] for e in events]))
            for k in ("decode_ms", "preprocess_ms", "inference_ms", "postprocess_ms")
        },
    }
    print(f"bare model: {bare['fps']:.1f} frames/s, P95 {bare['p95_ms']:.1f} ms per batch", flush=True)
    print(f"consumer:   {consumer['fps']:.1f} frames/s, P95 {consumer['p95_ms']:.1f} ms capture->produced", flush=True)
    keep = list(classes) if classes is not None else None
    # The naive peer is what a script does: YOLO("yolo11n.pt").predict(frame), i.e. PyTorch on this CPU (the
    # baseline in shared/models/README.md). The same ONNX file under Ultralytics is measured too: that ratio is
    # about the pipeline alone.
    pt = Path(settings.model_path).with_suffix(".pt")
    frames = jpegs[: cfg.naive_frames]
    naive = _naive(str(pt) if pt.is_file() else settings.model_path, settings, frames, keep)
    print(
        f"naive peer: {naive['fps']:.1f} frames/s, P95 {naive['p95_ms']:.1f} ms per frame ({naive['model']})",
        flush=True,
    )
    naive_onnx = _naive(settings.model_path, settings, frames, keep)
    print(
        f"naive, same ONNX: {naive_onnx['fps']:.1f} frames/s, P95 {naive_onnx['p95_ms']:.1f} ms per frame", flush=True
    )
    sessions = settings.workers or os.cpu_count() or 1
    return {
        **compare(names, rounds, gates),
        "backend": settings.backend,
        "imgsz": settings.imgsz,
        "model": str(settings.model_path),
        "sessions": sessions,
        "threads_per_session": settings.threads,
        "max_batch": settings.max_batch,
        "classes": settings.classes,
        "frames": len(jpegs),
        "machine": {"cores": os.cpu_count()},
        "bare_fps": round(bare["fps"], 2),
        "consumer_fps": round(consumer["fps"], 2),
        "naive_fps": round(naive["fps"], 2),
        "bare_p95_ms": round(bare["p95_ms"], 1),
        "consumer_p95_ms": round(consumer["p95_ms"], 1),
        "naive_p95_ms": round(naive["p95_ms"], 1),
        "ratio_consumer_bare": round(consumer["fps"] / bare["fps"], 3),
        "model_only_fps": round(model_only["fps"], 2),
        "model_only_p95_ms": round(model_only["p95_ms"], 1),
        "ratio_consumer_model_only": round(consumer["fps"] / model_only["fps"], 3),
        "ratio_consumer_naive": round(consumer["fps"] / naive["fps"], 3),
        "naive_model": naive["model"],
        "naive_onnx_fps": round(naive_onnx["fps"], 2),
        "naive_onnx_p95_ms": round(naive_onnx["p95_ms"], 1),
        "ratio_consumer_naive_onnx": round(consumer["fps"] / naive_onnx["fps"], 3),
        "details": {
            "bare": bare,
            "model_only": model_only,
            "consumer": consumer,
            "naive": naive,
            "naive_onnx": naive_onnx,
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def print_report(r: dict[str, Any]) -> None:
    print(
        f"\n{r['backend']} imgsz {r['imgsz']}, {r['sessions']} session(s) x {r['threads_per_session']} thread(s), "
        f"max_batch {r['max_batch']}, {r['machine']['cores']} cores"
    )
    print(f"  {'':10} {'frames/s':>9} {'P95 ms':>8}")
    for k in ("bare", "consumer", "naive"):
        print(f"  {k:10} {r[f'{k}_fps']:>9.1f} {r[f'{k}_p95_ms']:>8.1f}   ({r['details'][k]['what']})")
    print(f"  consumer / bare model: {r['ratio_consumer_bare']:.2f}  (bar: >= 0.9; what Kafka and Avro cost)")
    print(
        f"  consumer / model only: {r['ratio_consumer_model_only']:.2f}  ({r['model_only_fps']:.1f} frames/s, "
        f"P95 {r['model_only_p95_ms']:.1f} ms per call: what decode, letterbox, NMS, Kafka and Avro cost)"
    )
    print(f"  consumer / naive peer: {r['ratio_consumer_naive']:.2f}  (bar: >= 1.5; {Path(r['naive_model']).name})")
    print(
        f"  consumer / naive peer on the same ONNX model: {r['ratio_consumer_naive_onnx']:.2f} "
        f"({r['naive_onnx_fps']:.1f} frames/s, P95 {r['naive_onnx_p95_ms']:.1f} ms)"
    )
    cpu = r.get("cpu") or {}
    print(f"\nbackends side by side (CPU: {cpu.get('model', '?')}; flags {', '.join(cpu.get('flags', [])) or '-'})")
    print(f"  {'':18} {'consumer':>9} {'bare':>8} {'model':>8} {'consumer/bare':>14} {'gate':>7}")
    for name, b in r["backends"].items():
        gate = "-" if b["gate_coverage"] is None else f"{100 * b['gate_coverage']:.1f}%"
        print(
            f"  {name:18} {b['consumer_fps']:>9.1f} {b['bare_fps']:>8.1f} {b['model_only_fps']:>8.1f} "
            f"{b['ratio_consumer_bare']:>14.2f} {gate:>7}{'' if b['passes_gate'] else ' (fails the gate)'}"
        )
    if r["ratio_best_ort_fp32"] is not None:
        print(
            f"  best: {r['best_backend']}, consumer {r['best_consumer_fps']:.1f} frames/s = "
            f"{r['ratio_best_ort_fp32']:.2f}x ONNX Runtime fp32's consumer ({r['ort_fp32_consumer_fps']:.1f})"
        )


def main_bench(args: Any) -> int:
    from bench.backends import default_backends, variants
    from eventbus.settings import DeployableSettings
    from inference import InferenceSettings

    settings = InferenceSettings(**({"max_batch": args.max_batch} if args.max_batch else {}))
    spec = default_backends(settings.backend) if args.backends is None else args.backends
    first, *others = variants(spec, settings) if spec else [settings]
    bootstrap = args.bootstrap or DeployableSettings().kafka_bootstrap
    clip = Path(args.clip) if args.clip else Path(settings.model_path).parents[1] / "data" / "highway_overpass_720p.mp4"
    cfg = InferenceBenchConfig(
        bootstrap=bootstrap, clip=clip, frames=args.frames, naive_frames=args.naive_frames, rounds=args.rounds
    )
    res = run_bench(cfg, first, others)
    print_report(res)
    if not args.no_pipeline:
        import tempfile

        from bench.pipeline import pipeline_vs_peer

        best = dict(zip(res["backends"], [first, *others], strict=True))[res["best_backend"]]
        logs = Path(tempfile.mkdtemp(prefix="its-bench-pipeline-"))
        e2e = pipeline_vs_peer(best, clip, bootstrap, logs)
        res |= {"pipeline": e2e, "pipeline_fps": e2e["ours"]["fps"], "peer_pipeline_fps": e2e["peer"]["fps"]}
        res["ratio_pipeline_peer"] = e2e["ratio"]
        print(f"  pipeline / ObjectCounter: {e2e['ratio']:.2f}  (bar: >= 2)")
    write_results(args.json, res)
    return 0
