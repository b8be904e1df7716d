"""Opening PostgreSQL connections onto one schema of read models."""

from __future__ import annotations

from typing import Any

import psycopg

from projections.errors import ProjectionError
from projections.settings import check_schema_name
from schemas.redaction import redact

__all__ = ["connect", "session_options"]


def session_options(
    schema: str | None = None, statement_timeout_ms: int = 0, idle_in_transaction_timeout_ms: int = 0
) -> str:
    """The libpq `options` of a connection: UTC, `schema` as search_path (if given), and PostgreSQL's own limits:
    `statement_timeout` (a statement running longer is cancelled: QueryCanceled) and
    `idle_in_transaction_session_timeout` (a session idle inside a transaction that long is ended); 0 = no limit."""
    opts = ["-c TimeZone=UTC"]
    if schema is not None:
        opts.append(f"-c search_path={check_schema_name(schema)}")
    if statement_timeout_ms > 0:
        opts.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    if idle_in_transaction_timeout_ms > 0:
        opts.append(f"-c idle_in_transaction_session_timeout={int(idle_in_transaction_timeout_ms)}")
    return " ".join(opts)


def connect(dsn: str, schema: str = "public", **kwargs: Any) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection whose search_path is `schema` only and whose time zone is UTC (so times read back compare
    equal to the events' and day boundaries are UTC days)."""
    check_schema_name(schema)
    try:
        return psycopg.connect(dsn, options=f"-c search_path={schema} -c timezone=UTC", **kwargs)
    except psycopg.OperationalError as e:
        raise ProjectionError(
            f"Cannot connect to PostgreSQL at {redact(dsn)}: {redact(str(e))}. Start it (`itscam stack up`) or set "
            "ITS_PG_DSN."
        ) from e
