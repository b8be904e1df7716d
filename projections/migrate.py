"""Ordered SQL migrations (projections/migrations/NNN_name.sql), each applied once in its own transaction."""

from __future__ import annotations

from importlib import resources

import psycopg

from projections.errors import MigrationError

__all__ = ["migrate", "migration_files"]

_LOCK_KEY = 7_305_114  # advisory lock so concurrent `migrate` calls serialise


def migration_files() -> list[tuple[str, str]]:
    root = resources.files("projections") / "migrations"
    files = sorted((p for p in root.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def migrate(dsn: str) -> list[str]:
    """Apply pending migrations; return the versions applied now."""
    applied_now: list[str] = []
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as e:
        raise MigrationError(
            f"Cannot connect to PostgreSQL at {dsn}: {e}. Start it with `itscam stack up` or set ITS_PG_DSN."
        ) from e
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
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
                    f"Migration {version}.sql failed: {e}. Fix the SQL; nothing of it was applied."
                ) from e
            applied_now.append(version)
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
