"""`itscam bench projector`: the projector's PostgreSQL write path, and the time to rebuild from the log.

(a) Detection rows per second into PostgreSQL through the real batched path (PgStore.write: frames by COPY into a
staging table, detections by COPY, per-minute counts, compare-and-set offsets, one transaction per batch) against a
naive loop that INSERTs each detection row in its own transaction, on the same generated events in the same run. The
naive loop is bounded in time; its rate is what it did in that time.
(b) Rebuild: a bench-only topic filled with N synthetic DetectionsProduced events is replayed by the rebuild code
(projections.rebuild.rebuild: fresh schema, replay to the high watermarks, swap) into a scratch target schema.
Scratch schemas and the topic are dropped afterwards.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench.report import write_results

if TYPE_CHECKING:
    from schemas.events import DetectionsProduced
# The rest is imported where used, so importing this module stays light.

__all__ = ["main_bench", "synthetic_events"]

_T0 = datetime(2026, 1, 5, tzinfo=UTC)
_CLASSES = ("car", "truck", "bus", "motorcycle", "person", "bicycle")


def synthetic_events(n: int, dets_per_frame: int, cameras: int = 100, start: int = 0) -> list[DetectionsProduced]:
    """`n` DetectionsProduced events over `cameras` cameras at 10 fps, each with `dets_per_frame` boxes."""
    model = {
        "name": "yolo11n",
        "version": "8.4",
        "sha256": "ab" * 32,
        "backend": "onnxruntime",
        "precision": "fp32",
        "imgsz": 640,
        "class_names": list(_CLASSES),
    }
    out: list[DetectionsProduced] = []
    for i in range(start, start + n):
        cam, seq = f"bench-cam-{i % cameras:04d}", i // cameras
        at = _T0 + timedelta(milliseconds=100 * seq)
        dets = [
            {
                "class_id": j % len(_CLASSES),
                "class_name": _CLASSES[j % len(_CLASSES)],
                "confidence": 0.5,
                "x1": 10.0 * j,
                "y1": 20.0,
                "x2": 10.0 * j + 40,
                "y2": 80.0,
            }
            for j in range(dets_per_frame)
        ]
        timings = {
            "queued_ms": 1.0,
            "decode_ms": 1.0,
            "preprocess_ms": 1.0,
            "inference_ms": 20.0,
            "postprocess_ms": 1.0,
            "total_ms": 24.0,
            "batch_size": 8,
        }
        ev = {
            "camera_id": cam,
            "frame_seq": seq,
            "captured_at": at,
            "produced_at": at + timedelta(milliseconds=40),
            "width": 1280,
            "height": 720,
            "model": model,
            "detections": dets,
            "timings": timings,
        }
        out.append(ev)  # type: ignore[arg-type]
    return out


def _batched(
    dsn: str, schema: str, events: list[DetectionsProduced], batch: int, sync_commit: str
) -> tuple[int, float]:
    from projections.batch import Batch
    from projections.db import connect
    from projections.store import PgStore

    with connect(dsn, schema) as conn:
        conn.execute(f"SET synchronous_commit = {sync_commit}")
        conn.commit()
        store = PgStore(conn, "bench-projector")
        rows = 0
        t0 = time.perf_counter()
        for i in range(0, len(events), batch):
            chunk = events[i : i + batch]
            stats = store.write(Batch(detections=chunk), {("bench", 0): i + len(chunk)})
            rows += stats.detections
        return rows, time.perf_counter() - t0


def _naive(
    dsn: str, schema: str, events: list[DetectionsProduced], seconds: float, sync_commit: str
) -> tuple[int, float]:
    """One INSERT per detection row, each in its own transaction (autocommit), until `seconds` have passed."""
    from projections.db import connect

    with connect(dsn, schema, autocommit=True) as conn:
        conn.execute(f"SET synchronous_commit = {sync_commit}")
        conn.execute(
            "CREATE TABLE naive_detections (camera_id text, captured_at timestamptz, frame_seq bigint, idx smallint,"
            " class_id smallint, class_name text, confidence real, x1 real, y1 real, x2 real, y2 real,"
            " PRIMARY KEY (camera_id, captured_at, frame_seq, idx))"
        )
        rows = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        for e in events:
            for i, d in enumerate(e["detections"]):
                conn.execute(
                    "INSERT INTO naive_detections VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        e["camera_id"],
                        e["captured_at"],
                        e["frame_seq"],
                        i,
                        d["class_id"],
                        d["class_name"],
                        d["confidence"],
                        d["x1"],
                        d["y1"],
                        d["x2"],
                        d["y2"],
                    ),
                )
                rows += 1
            if time.perf_counter() > deadline:
                break
        return rows, time.perf_counter() - t0


def _drop(dsn: str, *schemas: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for s in schemas:
            conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")


def _fill_topic(bootstrap: str, topic: str, n: int, dets_per_frame: int) -> float:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    from eventbus.config import admin_config, producer_config
    from schemas import codec

    admin = AdminClient(admin_config(bootstrap))
    admin.create_topics([NewTopic(topic, num_partitions=12, replication_factor=1)])[topic].result(30)
    enc = codec("DetectionsProduced").encode
    p = Producer(producer_config(bootstrap, **{"linger.ms": 50, "batch.size": 1_000_000, "compression.type": "lz4"}))
    t0 = time.perf_counter()
    step = 20_000
    for start in range(0, n, step):
        for e in synthetic_events(min(step, n - start), dets_per_frame, start=start):
            while True:
                try:
                    p.produce(topic, key=e["camera_id"].encode(), value=enc(e))
                    break
                except BufferError:
                    p.poll(0.1)
        p.poll(0)
    if p.flush(120):
        raise RuntimeError(f"Kafka at {bootstrap} did not acknowledge the bench events of {topic}.")
    return time.perf_counter() - t0


def main_bench(args: Any) -> int:
    from projections.db import connect
    from projections.migrate import migrate
    from projections.rebuild import rebuild
    from projections.settings import ProjectorSettings

    s = ProjectorSettings()
    if args.bootstrap:
        s = s.model_copy(update={"kafka_bootstrap": args.bootstrap})
    tag = uuid.uuid4().hex[:8]
    out: dict[str, Any] = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_cores": os.cpu_count(),
        "dets_per_frame": args.dets_per_frame,
    }

    # (a) the write path, under the local stack's durability (synchronous_commit=off) and PostgreSQL's default (on);
    # each run into its own fresh schema.
    events = synthetic_events(args.write_frames, args.dets_per_frame)

    def run(what: str, sync_commit: str, batch: int = 0) -> tuple[int, float]:
        schema = f"bench_write_{tag}_{what}_{sync_commit}_{batch}"
        migrate(s.pg_dsn.get_secret_value(), schema)
        try:
            if what == "batched":
                return _batched(s.pg_dsn.get_secret_value(), schema, events, batch, sync_commit)
            return _naive(s.pg_dsn.get_secret_value(), schema, events, args.naive_seconds, sync_commit)
        finally:
            _drop(s.pg_dsn.get_secret_value(), schema)

    # The headline is the projector's own max_batch; 500 frames shows what a smaller batch costs.
    default, small = s.max_batch, 500
    for sync_commit, prefix in (("off", ""), ("on", "durable_")):
        for batch in dict.fromkeys((default, small)):
            rows, secs = run("batched", sync_commit, batch)
            name = f"{prefix}batched" if batch == default else f"{prefix}batched_{batch}"
            out[f"{name}_rows_per_s"] = round(rows / secs)
            out[f"{name}_rows"], out[f"{name}_seconds"] = rows, round(secs, 3)
        nrows, nsecs = run("naive", sync_commit)
        naive = out[f"{prefix}naive_rows_per_s"] = round(nrows / nsecs)
        out[f"{prefix}naive_rows"], out[f"{prefix}naive_seconds"] = nrows, round(nsecs, 3)
        out[f"{prefix}ratio"] = round(out[f"{prefix}batched_rows_per_s"] / naive, 1)
        line = (
            f"write path, synchronous_commit={sync_commit}: batched (PgStore: COPY, one transaction per batch) "
            f"{out[f'{prefix}batched_rows_per_s']:,} detection rows/s at {default} frames/batch (max_batch)"
        )
        if small != default:
            out[f"{prefix}ratio_{small}"] = round(out[f"{prefix}batched_{small}_rows_per_s"] / naive, 1)
            line += f", {out[f'{prefix}batched_{small}_rows_per_s']:,} at {small}"
        line += f"; naive (one INSERT per row, one transaction each, {nsecs:.1f} s) {naive:,} rows/s; "
        line += f"ratio {out[f'{prefix}ratio']}x ({default})"
        if small != default:
            line += f", {out[f'{prefix}ratio_{small}']}x ({small})"
        print(line, flush=True)
    out["max_batch"] = default

    # (b) rebuild from the log
    topic = f"bench.projector.{tag}"
    target = f"bench_target_{tag}"
    fill = _fill_topic(s.kafka_bootstrap, topic, args.replay_events, args.dets_per_frame)
    print(f"filled {topic} with {args.replay_events:,} events in {fill:.1f} s", flush=True)
    migrate(s.pg_dsn.get_secret_value(), target)
    try:
        off = {f"{k}_topic": "" for k in ("cameras", "camera_status", "vehicle_events", "traffic_stats", "incidents")}
        rs = s.model_copy(update={"detections_topic": topic, "group_id": f"bench-rebuild-{tag}", **off})
        res = rebuild(rs, target_schema=target, progress=True, rebuild_redis=False)
        with connect(s.pg_dsn.get_secret_value(), target) as conn:
            row = conn.execute("SELECT count(*) FROM frames").fetchone()
            frames = int(row[0]) if row else 0
    finally:
        _drop(s.pg_dsn.get_secret_value(), target)
        from confluent_kafka.admin import AdminClient

        from eventbus.config import admin_config

        admin = AdminClient(admin_config(s.kafka_bootstrap))  # kept alive while the futures resolve
        for fut in admin.delete_topics([topic]).values():
            fut.result(30)
    out.update(
        rebuild_events=res.events,
        rebuild_frames_in_pg=frames,
        rebuild_seconds=round(res.seconds, 1),
        rebuild_events_per_s=round(res.events / res.seconds),
    )
    print(
        f"rebuild: {res.events:,} detection events ({res.events * args.dets_per_frame:,} detection rows) replayed "
        f"and swapped in {res.seconds:.1f} s = {out['rebuild_events_per_s']:,} events/s",
        flush=True,
    )
    write_results(args.json, out)
    return 0
