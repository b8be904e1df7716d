"""Opening PostgreSQL connections onto one schema of read models."""

from __future__ import annotations

from typing import Any

import psycopg

from projections.errors import ProjectionError
from projections.settings import check_schema_name

__all__ = ["connect"]


def connect(dsn: str, schema: str = "public", **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection whose search_path is `schema` only and whose time zone is UTC (so times read back compare
    equal to the events' and day boundaries are UTC days)."""
    check_schema_name(schema)
    try:
        return psycopg.connect(dsn, options=f"-c search_path={schema} -c timezone=UTC", **kwargs)
    except psycopg.OperationalError as e:
        raise ProjectionError(
            f"Cannot connect to PostgreSQL at {_without_password(dsn)}: {e}. Start it (`itscam stack up`) or set "
            "ITS_PG_DSN."
        ) from e


def _without_password(dsn: str) -> str:
    """The DSN for messages: its password replaced by ***."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the configured DSN (unparsable)"
    if parts.get("password"):
        parts["password"] = "***"
    return psycopg.conninfo.make_conninfo("", **parts)
