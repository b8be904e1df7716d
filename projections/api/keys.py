"""The api_keys table, written and listed: keys are created with a token shown once (its_<key_id>_<secret>) and only
the SHA-256 of the secret stored; revoked keys stay listed. The API reads the table through projections/api/auth.py;
`itscam keys` is the command line over these functions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from projections.api.auth import SCOPES, hash_secret, new_token
from projections.errors import ProjectionError

__all__ = ["create_key", "list_keys", "revoke_key"]


def create_key(
    dsn: str, name: str, scopes: list[str], rate_per_minute: int, expires_at: datetime | None = None
) -> tuple[str, str]:
    """(key_id, token) of a new key; from `expires_at` on (if given) the API refuses it."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ProjectionError(f"Scopes {bad or scopes} are not valid; use a comma-separated subset of {list(SCOPES)}.")
    if rate_per_minute < 1:
        raise ProjectionError(f"A key's rate per minute must be at least 1; got {rate_per_minute}.")
    key_id, secret, token = new_token()
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO api_keys (key_id, name, secret_sha256, scopes, rate_per_minute, expires_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (key_id, name, hash_secret(secret), scopes, rate_per_minute, expires_at),
        )
    return key_id, token


def list_keys(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT key_id, name, scopes, rate_per_minute, created_at, revoked_at, expires_at FROM api_keys"
            " ORDER BY created_at"
        ).fetchall()


def revoke_key(dsn: str, key_id: str) -> bool:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL", (key_id,))
        return cur.rowcount == 1
