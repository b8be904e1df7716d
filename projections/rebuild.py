"""`itscam rebuild`: replay every event topic into a fresh schema of read models, then swap it in.

Steps:
  1. create schema rebuild_<ts> and migrate it;
  2. take the high watermarks of every partition of the consumed topics (the replay ends there);
  3. replay from the beginning with a projector writing into rebuild_<ts> under the live offsets group (assigned
     partitions, no group membership, no Kafka commits, no Redis);
  4. swap in one transaction: lock every projected table of the target schema, copy the other groups' offsets
     over, move each target table (and its day partitions) to old_<ts> and each rebuilt one into the target schema;
     a live projector then finds offsets it did not write, is fenced, and re-seeks to the rebuilt offsets;
  5. drop rebuild_<ts> (now only its schema_migrations) and, unless kept, old_<ts>;
  6. rebuild Redis from PostgreSQL.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import Consumer

from eventbus.config import consumer_config
from eventbus.errors import TopicNotFoundError
from eventbus.watermarks import watermarks
from projections.cache import rebuild_redis_from_pg
from projections.db import connect
from projections.errors import ProjectionError
from projections.migrate import migrate
from projections.projector import Projector
from projections.rediskit import sync_client
from projections.settings import ProjectorSettings, check_schema_name

__all__ = ["PROJECTED_TABLES", "RebuildResult", "high_watermarks", "rebuild", "replay_into", "swap_schemas"]

log = logging.getLogger(__name__)

# Every table the projector writes (api_keys, audit_log and schema_migrations are not projections).
PROJECTED_TABLES = (
    "cameras",
    "camera_status",
    "vehicle_events",
    "vehicle_counts_minute",
    "traffic_stats",
    "traffic_stats_counts",
    "incidents",
    "frames",
    "detections",
    "frames_minute",
    "class_counts_minute",
    "movement_events",
    "movement_counts_minute",
    "projection_offsets",
)


@dataclass
class RebuildResult:
    rebuild_schema: str
    target_schema: str
    old_schema: str
    kept_old: bool
    ends: dict[tuple[str, int], int]
    events: int
    seconds: float
    redis_keys: int | None


def high_watermarks(settings: ProjectorSettings, timeout: float = 30.0) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (low, high) watermark of every partition of the consumed topics."""
    c = Consumer(consumer_config(settings.kafka_bootstrap, f"{settings.group_id}-watermarks"))
    try:
        return watermarks(c, settings.topics(snapshots=False), bootstrap=settings.kafka_bootstrap, timeout=timeout)
    except TopicNotFoundError as e:
        raise ProjectionError(f"{e} Or leave the topic out of the rebuild (--only-topics).") from e
    finally:
        c.close()


def replay_into(
    settings: ProjectorSettings, ends: dict[tuple[str, int], int], progress: Callable[[int], None] | None = None
) -> None:
    """Project every partition of `ends` from the start to its end offset into `settings.pg_schema`."""
    p = Projector(settings, replay=True)
    try:
        p.replay_to(ends, progress)
    finally:
        p.close()


def _children(conn: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
        " WHERE n.nspname = %s AND p.relname = %s ORDER BY 1",
        (schema, table),
    ).fetchall()
    return [str(r[0]) for r in rows]


def swap_schemas(dsn: str, rebuilt: str, target: str, old: str, group_id: str, attempts: int = 5) -> None:
    """Move the projected tables of `target` to `old` and those of `rebuilt` into `target`, in one transaction
    (retried when it deadlocks with a live projector's transaction or waits past its 30 s lock timeout)."""
    for s in (rebuilt, target, old):
        check_schema_name(s)
    for attempt in range(1, attempts + 1):
        try:
            with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '30s'")
                have = {
                    str(r[0]) for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (target,))
                }
                missing = [t for t in PROJECTED_TABLES if t not in have]
                if missing:
                    raise ProjectionError(
                        f"Schema {target} lacks the tables {missing}: migrate it first (`itscam db migrate`)."
                    )
                tables = ", ".join(f"{sch}.{t}" for sch in (target, rebuilt) for t in PROJECTED_TABLES)
                conn.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
                conn.execute(f"CREATE SCHEMA {old}")
                # Offsets of other consumer groups are not part of this rebuild: carry them over.
                conn.execute(
                    f"INSERT INTO {rebuilt}.projection_offsets SELECT * FROM {target}.projection_offsets"
                    " WHERE consumer_group <> %s ON CONFLICT DO NOTHING",
                    (group_id,),
                )
                for src, dst in ((target, old), (rebuilt, target)):
                    for table in PROJECTED_TABLES:
                        for child in _children(conn, src, table):
                            conn.execute(f"ALTER TABLE {src}.{child} SET SCHEMA {dst}")
                        conn.execute(f"ALTER TABLE {src}.{table} SET SCHEMA {dst}")
            return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable) as e:
            log.warning("swap did not get its locks; retrying", extra={"attempt": attempt, "error": str(e)})
            if attempt == attempts:
                raise ProjectionError(
                    f"Swapping {rebuilt} into {target} did not get its table locks {attempts} times ({e}); "
                    "retry when the read side is quieter."
                ) from e
            time.sleep(attempt)


def rebuild(
    settings: ProjectorSettings,
    target_schema: str = "public",
    keep_old: bool = False,
    progress: bool = True,
    rebuild_redis: bool = True,
    max_batch: int = 5000,
) -> RebuildResult:
    """Replay every consumed topic into rebuild_<ts> and swap it into `target_schema` (see the module steps)."""
    t0 = time.monotonic()
    ts = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    rebuilt, old = f"rebuild_{ts}", f"old_{ts}"
    check_schema_name(target_schema)
    # 1.
    migrate(settings.pg_dsn.get_secret_value(), rebuilt)
    try:
        # 2.
        marks = high_watermarks(settings)
        ends = {k: hi for k, (lo, hi) in marks.items() if hi > lo}
        total = sum(hi - lo for lo, hi in marks.values())
        # 3.
        replay_settings = settings.model_copy(
            update={"pg_schema": rebuilt, "update_redis": False, "metrics_port": 0, "max_batch": max_batch}
        )
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n

        if progress:
            from tqdm import tqdm

            with tqdm(total=total, unit="ev", desc=f"rebuild {rebuilt}", smoothing=0.1) as bar:

                def tick_bar(n: int) -> None:
                    tick(n)
                    bar.update(n)

                replay_into(replay_settings, ends, tick_bar)
                bar.update(max(0, total - bar.n))  # transaction markers count in watermarks, not as events
        else:
            replay_into(replay_settings, ends, tick)
        # 4.
        swap_schemas(settings.pg_dsn.get_secret_value(), rebuilt, target_schema, old, settings.group_id)
    except BaseException:
        with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {rebuilt} CASCADE")
        raise
    # 5.
    with psycopg.connect(settings.pg_dsn.get_secret_value(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {rebuilt} CASCADE")
        if not keep_old:
            conn.execute(f"DROP SCHEMA {old} CASCADE")
    # 6.
    redis_keys = None
    if rebuild_redis:
        with connect(settings.pg_dsn.get_secret_value(), target_schema) as conn:
            cams = None
            if target_schema != "public":  # a side schema only owns the cameras it holds
                cams = [str(r[0]) for r in conn.execute("SELECT camera_id FROM cameras")]
            redis_keys = rebuild_redis_from_pg(conn, sync_client(settings.redis_url.get_secret_value()), cams)
    return RebuildResult(rebuilt, target_schema, old, keep_old, ends, total, time.monotonic() - t0, redis_keys)
