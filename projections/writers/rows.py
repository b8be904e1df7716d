"""Inserting events that carry their own deterministic id: only the ones not projected before."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

__all__ = ["insert_new"]


def insert_new(
    cur: psycopg.Cursor[Any],
    table: str,
    columns: tuple[tuple[str, str], ...],
    records: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """Insert `records` (id -> record with every column of `columns`, (name, PostgreSQL type); the first column is
    the id) from one array per column, skipping ids already in `table`; the ids inserted."""
    names = [n for n, _ in columns]
    casts = ", ".join(f"%b::{t}[]" for _, t in columns)
    cur.execute(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM unnest({casts})"
        f" ON CONFLICT ({names[0]}) DO NOTHING RETURNING {names[0]}",
        [[r[n] for r in records.values()] for n in names],
    )
    return [str(r[0]) for r in cur.fetchall()]
