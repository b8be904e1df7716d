"""Ordered SQL migrations (projections/migrations/NNN_name.sql), each applied once in its own transaction.

Each schema has its own schema_migrations: `migrate(dsn, schema="rebuild_x")` builds a complete set of read models
beside the live one (public).
"""

from __future__ import annotations

from importlib import resources

import psycopg

from projections.errors import MigrationError
from projections.settings import check_schema_name
from schemas.redaction import redact

__all__ = ["migrate", "migration_files"]

_LOCK_KEY = 7_305_114  # advisory lock (with the schema's hash) so concurrent `migrate` calls serialise


def migration_files() -> list[tuple[str, str]]:
    root = resources.files("projections") / "migrations"
    files = sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def migrate(dsn: str, schema: str | None = None) -> list[str]:
    """Apply pending migrations into `schema` (created if missing; default public); return the versions applied."""
    schema = check_schema_name(schema or "public")
    applied_now: list[str] = []
    try:
        conn = psycopg.connect(dsn, autocommit=True, options=f"-c search_path={schema} -c timezone=UTC")
    except psycopg.OperationalError as e:
        raise MigrationError(
            f"Cannot connect to PostgreSQL at {redact(dsn)}: {redact(str(e))}. Start it with `itscam stack up` or set "
            "ITS_PG_DSN."
        ) from e
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_LOCK_KEY, schema))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            except psycopg.Error as e:
                raise MigrationError(
                    f"Migration {version}.sql failed in schema {schema}: {e}. Fix the SQL; nothing of it was applied."
                ) from e
            applied_now.append(version)
        conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_LOCK_KEY, schema))
    return applied_now
