"""`itscam export counts|movements|stats|vehicle-events`: a camera's history as CSV or Parquet on stdout, read
straight from the PostgreSQL read models (no API needed). The same columns, SQL and bytes as the API's
`?format=csv|parquet` answers (projections/exports.py; docs/exports.md)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from itscam.errors import CliError

__all__ = ["add_parser", "export"]

_WHATS = ("counts", "movements", "stats", "vehicle-events")  # projections.exports.WHATS (not imported at start-up)
_BUCKETS = ("1m", "5m", "15m", "1h", "1d")  # projections.queries.BUCKETS
_FORMATS = ("csv", "parquet")  # projections.exports.FORMATS


def _time(flag: str, raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        raise CliError(f"{flag} must be an ISO 8601 time such as 2026-01-31T08:00:00Z; got {raw!r}.") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def time_range(raw_from: str | None, raw_to: str | None, max_days: int) -> tuple[datetime, datetime]:
    """--from/--to as the API reads from/to: naive times are UTC; `to` defaults to the end of this minute, `from`
    to a day before `to`; at most `max_days` (ITS_API_MAX_RANGE_DAYS) long."""
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = _time("--to", raw_to) or now
    start = _time("--from", raw_from) or end - timedelta(days=1)
    if start >= end:
        raise CliError(f"--from ({start.isoformat()}) must be before --to ({end.isoformat()}).")
    if end - start > timedelta(days=max_days):
        raise CliError(
            f"The --from..--to range is longer than {max_days} days (ITS_API_MAX_RANGE_DAYS); ask for less, or export "
            "it in parts."
        )
    return start, end


def export(
    dsn: str,
    out: BinaryIO,
    what: str,
    camera_id: str,
    start: datetime,
    end: datetime,
    bucket: str = "1h",
    fmt: str = "csv",
    filters: dict[str, str | None] | None = None,
) -> int:
    """Write the export to `out` as it is read; returns the rows written. CliError for an unknown camera."""
    from projections import exports
    from projections.db import connect

    if fmt not in _FORMATS:
        raise CliError(f"--format must be one of {list(_FORMATS)}; got {fmt!r}.")
    query = exports.build_query(what, camera_id, start, end, bucket, filters or {})
    enc = exports.encoder(what, fmt)
    n = 0
    with connect(dsn) as conn:
        if not exports.camera_known(conn, camera_id):
            raise CliError(f"No camera {camera_id!r} is configured or has been seen; `itscam cameras list` lists them.")
        out.write(enc.start())
        with contextlib.closing(exports.fetch(conn, query)) as batches:
            for rows in batches:
                out.write(enc.rows(rows))
                n += len(rows)
        out.write(enc.finish())
    out.flush()
    return n


def _cmd(args: argparse.Namespace) -> int:
    from projections.api.settings import ApiSettings

    s = ApiSettings()
    start, end = time_range(args.from_, args.to, s.max_range_days)
    filters = {"line_id": args.line_id, "class_name": args.class_name, "direction": args.direction}
    try:
        export(
            args.dsn or s.pg_dsn.get_secret_value(),
            sys.stdout.buffer,
            args.what,
            args.camera,
            start,
            end,
            args.bucket,
            args.format,
            filters,
        )
    except BrokenPipeError:  # `itscam export ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes at exit
    return 0


def add_parser(sub: Any) -> None:
    ex = sub.add_parser(
        "export",
        help="Write a camera's counts, movements, stats or vehicle events as CSV or Parquet to stdout.",
        description="Read the PostgreSQL read models directly (ITS_PG_DSN; no API needed) and write CSV (header "
        "row first) or Parquet to stdout as the rows are read: the bytes the API answers to ?format=csv|parquet. "
        "Columns: docs/exports.md. The range is the API's: the last 24 h by default, at most ITS_API_MAX_RANGE_DAYS.",
    )
    ex.add_argument("what", choices=_WHATS, help="What to export.")
    ex.add_argument("--camera", required=True, metavar="ID", help="Camera id.")
    ex.add_argument(
        "--from", dest="from_", metavar="T", help="Start (inclusive), ISO 8601; naive = UTC (24 h before --to)."
    )
    ex.add_argument("--to", metavar="T", help="End (exclusive), ISO 8601; naive = UTC (the end of this minute).")
    ex.add_argument("--bucket", choices=_BUCKETS, default="1h", help="Bucket width of counts and movements (1h).")
    ex.add_argument("--format", default="csv", metavar="{csv,parquet}", help="csv (default) or parquet.")
    ex.add_argument("--line-id", metavar="LINE", help="Only this counting line (counts, vehicle-events).")
    ex.add_argument(
        "--class",
        dest="class_name",
        metavar="CLASS",
        help="Only this vehicle class (counts, movements, vehicle-events).",
    )
    ex.add_argument("--direction", choices=["IN", "OUT"], help="Only this direction (counts, vehicle-events).")
    ex.add_argument("--dsn", help="PostgreSQL DSN (ITS_PG_DSN).")
    ex.set_defaults(fn=_cmd)
