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
    from projections.retention import RetentionSettings, apply_retention
    from projections.settings import ProjectorSettings

    s = ProjectorSettings()
    rs = RetentionSettings()
    dsn = args.dsn or s.pg_dsn.get_secret_value()
    schema = args.schema or s.pg_schema
    with connect(dsn, schema) as conn:
        rep = apply_retention(conn, rs, detections_days=args.keep_days, dry_run=args.dry_run)
    verb = "would drop" if args.dry_run else "dropped"
    print(f"frames/detections partitions: {verb} {len(rep.dropped_partitions)}")
    for name in rep.dropped_partitions:
        print(f"  {verb} {schema}.{name}")
    for table, n in rep.deleted.items():
        print(f"  {'would delete' if args.dry_run else 'deleted'} {n} rows of {schema}.{table}")
    if rep.kept_kinds:
        print(f"kept for ever (no ITS_RETENTION_*_DAYS set): {', '.join(rep.kept_kinds)}")
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
        help="Enforce retention per data kind (frames/detections partitions, events, statistics, audit).",
        description="Drop the day partitions of frames/detections older than --keep-days days and delete the rows "
        "of vehicle events, statistics and audit older than their ITS_RETENTION_*_DAYS settings (unset: kept).",
    )
    rt.add_argument(
        "--keep-days",
        type=int,
        default=None,
        help="Days of frames/detections partitions to keep (ITS_RETENTION_DETECTIONS_DAYS). The other kinds follow "
        "ITS_RETENTION_VEHICLE_EVENTS_DAYS, ITS_RETENTION_STATISTICS_DAYS and ITS_RETENTION_AUDIT_DAYS.",
    )
    rt.add_argument("--dry-run", action="store_true", help="Only list what would be dropped.")
    rt.set_defaults(fn=_cmd_retention)
    for p in (mg, rt):
        p.add_argument("--dsn", help="PostgreSQL DSN (ITS_PG_DSN).")
        p.add_argument("--schema", help="Schema of the read models (ITS_PROJECTOR_PG_SCHEMA, public).")
