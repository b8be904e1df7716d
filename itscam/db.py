"""`itscam db migrate|retention`: the read models' database (projections/): apply the migrations; drop old day
partitions of frames/detections."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def _cmd_migrate(args: argparse.Namespace) -> int:
    from projections import migrate
    from projections.settings import ProjectorSettings

    dsn = args.dsn or ProjectorSettings().pg_dsn.get_secret_value()
    applied = migrate(dsn, args.schema)
    print(f"migrations applied: {applied or 'none (up to date)'}")
    return 0


def _cmd_retention(args: argparse.Namespace) -> int:
    from projections.db import connect
    from projections.partitions import drop_old_partitions
    from projections.settings import ProjectorSettings

    s = ProjectorSettings()
    dsn = args.dsn or s.pg_dsn.get_secret_value()
    schema = args.schema or s.pg_schema
    with connect(dsn, schema) as conn:
        res = drop_old_partitions(conn, args.keep_days, dry_run=args.dry_run)
    verb = "would drop" if args.dry_run else "dropped"
    print(f"partitions ending at or before {res.cutoff.isoformat()}: {verb} {len(res.dropped)}, kept {len(res.kept)}")
    for name in res.dropped:
        print(f"  {verb} {schema}.{name}")
    return 0


def add_parser(sub: Any) -> None:
    """`itscam db migrate` and `itscam db retention`, each with only its own options."""
    db = sub.add_parser(
        "db",
        help="Apply PostgreSQL migrations; drop old frames/detections partitions.",
        description="The read models' database: migrate applies pending migrations, retention drops old day "
        "partitions.",
    )
    actions = db.add_subparsers(dest="action", required=True, metavar="ACTION")
    mg = actions.add_parser(
        "migrate",
        help="Apply pending migrations (idempotent).",
        description="Apply the pending ordered SQL migrations from projections/migrations (idempotent).",
    )
    mg.set_defaults(fn=_cmd_migrate)
    rt = actions.add_parser(
        "retention",
        help="Drop the day partitions of frames/detections older than --keep-days.",
        description="Drop the day partitions of frames/detections older than --keep-days days.",
    )
    rt.add_argument("--keep-days", type=int, required=True, help="Days of frames/detections partitions to keep.")
    rt.add_argument("--dry-run", action="store_true", help="Only list what would be dropped.")
    rt.set_defaults(fn=_cmd_retention)
    for p in (mg, rt):
        p.add_argument("--dsn", help="PostgreSQL DSN (ITS_PG_DSN).")
        p.add_argument("--schema", help="Schema of the read models (ITS_PROJECTOR_PG_SCHEMA, public).")
