"""The checks after a chaos run: read models against the clean run's, Redis counters against PostgreSQL, every
poison record dead-lettered exactly once by each stage that reads its topic, every consumer group drained."""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis

from bench.chaos.compare import COMPARED, Diff, read_table
from bench.chaos.faults import POISON_TOPICS
from bench.chaos.pipeline import Pipeline
from bench.chaos.progress import committed, data_left, group_readers, inputs
from bench.counting import read_topic
from projections.cache import counts_key, rebuild_redis_from_pg
from projections.db import connect
from schemas.serde import codec

__all__ = ["check_dlq", "check_lag", "check_redis", "compare_runs"]

_SCRATCH_DB = 15  # the chaos Redis's database the expected counters are rebuilt into


def compare_runs(clean: Pipeline, chaos: Pipeline) -> Diff:
    diff = Diff()
    with connect(clean.pg_dsn, clean.schema) as a, connect(chaos.pg_dsn, chaos.schema) as b:
        for table in COMPARED:
            diff.add(table, read_table(a, clean.schema, table), read_table(b, chaos.schema, table))
    return diff


def check_redis(p: Pipeline, redis_url: str, cameras: list[str]) -> list[dict[str, Any]]:
    """Each camera's Redis counters against what PostgreSQL's read models say they are (rebuilt from PostgreSQL
    into a scratch database, the way the projector repairs them); the cameras that differ."""
    scratch_url = redis_url.rsplit("/", 1)[0] + f"/{_SCRATCH_DB}"
    out = []
    with (
        connect(p.pg_dsn, p.schema) as conn,
        redis.Redis.from_url(redis_url) as live,
        redis.Redis.from_url(scratch_url) as scratch,
    ):
        scratch.flushdb()
        rebuild_redis_from_pg(conn, scratch, cameras)
        for cam in cameras:
            want = {k: v for k, v in scratch.hgetall(counts_key(cam)).items() if k != b"off"}
            have = {k: v for k, v in live.hgetall(counts_key(cam)).items() if k != b"off"}
            if want != have:
                out.append({"camera_id": cam, "postgres": _text(want), "redis": _text(have)})
        scratch.flushdb()
    return out


def _text(h: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in sorted(h.items())}


def check_dlq(p: Pipeline, poison: list[tuple[str, int, int]]) -> dict[str, Any]:
    """Dead letters of the run: each poison record must be there once per stage that reads its topic; anything
    else dead-lettered is listed (a frame or event the pipeline gave up on)."""
    by_topic = {t: k for k, t in p.topics.items()}
    letters = [codec("DeadLetter").decode(v) for _k, v in read_topic(p.bootstrap, p.topics["dlq"]) if v is not None]
    seen = Counter(
        (by_topic.get(d["source_topic"], d["source_topic"]), d["source_partition"], d["source_offset"]) for d in letters
    )
    stages = Counter(
        (by_topic.get(d["source_topic"], d["source_topic"]), d["source_partition"], d["source_offset"], d["stage"])
        for d in letters
    )
    missing, doubled = [], []
    for rec in poison:
        want = len(POISON_TOPICS[rec[0]])
        if seen[rec] < want:
            missing.append({"record": list(rec), "dead_letters": seen[rec], "expected": want})
    doubled = [{"record": list(k[:3]), "stage": k[3], "times": n} for k, n in stages.items() if n > 1]
    ours = set(poison)
    others = [
        {"topic": d["source_topic"], "partition": d["source_partition"], "offset": d["source_offset"],
         "stage": d["stage"], "error_type": d["error_type"]}
        for d in letters
        if (by_topic.get(d["source_topic"]), d["source_partition"], d["source_offset"]) not in ours
    ]  # fmt: skip
    return {"poison": len(poison), "dead_letters": len(letters), "missing": missing, "doubled": doubled,
            "other": others[:20], "other_count": len(others)}  # fmt: skip


def _partitions(p: Pipeline, topic: str) -> int:
    return 1 if topic in (p.topics["cams"], p.topics["dlq"]) else p.partitions


def check_lag(p: Pipeline) -> dict[str, int]:
    """Records each consumer group still has to read (0 everywhere when drained)."""
    readers = group_readers(p)
    probe_ends = {(t, part): 0 for ts in inputs(p).values() for t in ts for part in range(_partitions(p, t))}
    try:
        with connect(p.pg_dsn, p.schema) as conn:
            done = committed(p, readers, conn, probe_ends)
    finally:
        for c in readers.values():
            c.close()
    out = {}
    for group, topics in inputs(p).items():
        start = {tp: off for tp, off in done.get(group, {}).items() if tp[0] in topics}
        for t in topics:  # partitions never committed start at 0
            for part in range(_partitions(p, t)):
                start.setdefault((t, part), 0)
        out[group] = data_left(p.bootstrap, start)
    return out
