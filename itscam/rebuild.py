"""`itscam rebuild`: replay every event topic into fresh read models and swap them in (projections/rebuild.py)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]

# The ProjectorSettings topic fields, each with its --<field>-topic flag.
_TOPIC_FIELDS = (
    "cameras",
    "camera_status",
    "detections",
    "vehicle_events",
    "traffic_stats",
    "incidents",
    "movements",
)


def _cmd(args: argparse.Namespace) -> int:
    from projections.rebuild import rebuild
    from projections.settings import ProjectorSettings

    overrides: dict[str, Any] = {}
    if args.group_id:
        overrides["group_id"] = args.group_id
    for field in _TOPIC_FIELDS:
        value = getattr(args, f"{field}_topic")
        if value is not None:
            overrides[f"{field}_topic"] = value
    if args.only_topics is not None:
        wanted = set(args.only_topics.split(","))
        base = ProjectorSettings(**overrides)
        for field in _TOPIC_FIELDS:
            if getattr(base, f"{field}_topic") not in wanted:
                overrides[f"{field}_topic"] = ""
    s = ProjectorSettings(**overrides)
    res = rebuild(
        s,
        target_schema=args.target_schema,
        keep_old=args.keep_old,
        progress=not args.no_progress,
        rebuild_redis=not args.no_redis,
        max_batch=args.max_batch,
    )
    print(
        f"rebuilt {res.events} events of {len(res.ends)} partitions into {res.rebuild_schema} in {res.seconds:.1f} s; "
        f"swapped into {res.target_schema}"
        + (f"; previous tables kept in {res.old_schema}" if res.kept_old else "; previous tables dropped")
        + (f"; {res.redis_keys} Redis keys rewritten" if res.redis_keys is not None else "")
    )
    return 0


def add_parser(sub: Any) -> None:
    rb = sub.add_parser(
        "rebuild",
        help="Replay every event topic into fresh read models and swap them in.",
        description="Create schema rebuild_<timestamp>, migrate it, replay every topic from the beginning to the "
        "high watermarks taken at the start (no consumer-group membership) with the live offsets group, then swap "
        "in one transaction: each projected table (and its day partitions) of the target schema moves to "
        "old_<timestamp>, the rebuilt one takes its place; api_keys, audit_log and schema_migrations stay. A live "
        "projector is fenced by its stored offsets and re-seeks. Finally Redis is rebuilt from PostgreSQL. "
        "Settings: ITS_PROJECTOR_*, ITS_PG_DSN, ITS_REDIS_URL.",
    )
    rb.add_argument("--target-schema", default="public", help="Schema whose tables are replaced (public).")
    rb.add_argument("--keep-old", action="store_true", help="Keep the previous tables in schema old_<timestamp>.")
    rb.add_argument("--group-id", help="Offsets group written with the rebuilt tables (ITS_PROJECTOR_GROUP_ID).")
    rb.add_argument("--only-topics", help="Comma-separated topic names: replay only these (the rest stay empty).")
    for field in _TOPIC_FIELDS:
        rb.add_argument(f"--{field.replace('_', '-')}-topic", help=f"Topic of {field} (ITS_PROJECTOR_*).")
    rb.add_argument("--max-batch", type=int, default=5000, help="Events per transaction while replaying (5000).")
    rb.add_argument("--no-progress", action="store_true", help="No progress bar.")
    rb.add_argument("--no-redis", action="store_true", help="Do not rebuild Redis afterwards.")
    rb.set_defaults(fn=_cmd)
