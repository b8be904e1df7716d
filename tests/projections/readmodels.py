"""Helpers of projection tests: scratch schemas of read models and table snapshots to compare them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition

from eventbus.config import consumer_config, producer_config
from projections import ProjectorSettings, migrate
from projections.db import connect
from projections.rebuild import PROJECTED_TABLES

# Wall-clock columns are left out of comparisons of the projected tables.
WALL_CLOCK = {"projected_at", "last_projected_at", "updated_at", "owner"}


@contextmanager
def scratch_schema(dsn: str, prefix: str = "t") -> Iterator[str]:
    """A freshly migrated schema, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    migrate(dsn, name)
    try:
        yield name
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def snapshot(dsn: str, schema: str, group: str | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every projected table of `schema` as sorted rows without wall-clock columns (offsets of `group` only)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with connect(dsn, schema) as conn:
        for table in PROJECTED_TABLES:
            cols = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                    " ORDER BY ordinal_position",
                    (schema, table),
                )
                if r[0] not in WALL_CLOCK
            ]
            where = " WHERE consumer_group = %s" if table == "projection_offsets" and group else ""
            rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table}{where}", (group,) if where else ()).fetchall()
            out[table] = sorted(rows, key=repr)
    return out


def offsets_total(dsn: str, schema: str, group: str) -> int:
    with connect(dsn, schema) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM projection_offsets WHERE consumer_group = %s", (group,)
        ).fetchone()
    return int(row[0]) if row else 0


KIND_FIELDS = {
    "CameraConfig": "cameras_topic",
    "CameraStatusChanged": "camera_status_topic",
    "DetectionsProduced": "detections_topic",
    "VehicleCounted": "vehicle_events_topic",
    "TrafficStatsWindow": "traffic_stats_topic",
    "IncidentDetected": "incidents_topic",
    "TurningMovement": "movements_topic",
}


def make_topics(make_topic: Callable[..., str], partitions: int = 3) -> dict[str, str]:
    """A fresh topic per record kind: kind -> topic name."""
    return {kind: make_topic(kind.lower()[:12], partitions) for kind in KIND_FIELDS}


def produce_records(bootstrap: str, topics: dict[str, str], records: list[tuple[str, bytes, bytes | None]]) -> None:
    p = Producer(producer_config(bootstrap))
    for i, (kind, key, value) in enumerate(records):
        p.produce(topics[kind], key=key, value=value)
        if i % 1000 == 999:
            p.poll(0)
    assert p.flush(60) == 0


def settings_for(
    bootstrap: str, dsn: str, redis_url: str, topics: dict[str, str], dlq: str, group: str, schema: str, **kw: Any
) -> ProjectorSettings:
    # only the topics given: never the stack's shared topics (other tests and the demo write to them)
    fields: dict[str, Any] = {f: "" for f in [*KIND_FIELDS.values(), "snapshots_topic"]}
    fields.update({KIND_FIELDS[k]: t for k, t in topics.items()})
    return ProjectorSettings(
        kafka_bootstrap=bootstrap,
        pg_dsn=dsn,
        redis_url=redis_url,
        dlq_topic=dlq,
        group_id=group,
        pg_schema=schema,
        metrics_port=0,
        **fields,
        **kw,
    )


def end_offsets(bootstrap: str, topics: dict[str, str]) -> int:
    """Sum of the high watermarks of `topics` (what stored offsets reach once everything is projected)."""
    c = Consumer(consumer_config(bootstrap, "test-watermarks"))
    try:
        total = 0
        for t in topics.values():
            md = c.list_topics(t, timeout=10).topics[t]
            for p in md.partitions:
                total += c.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
        return total
    finally:
        c.close()
