"""`itscam keys create|list|revoke`: API keys in PostgreSQL (api_keys). The token is printed once; only the
SHA-256 of its secret is stored."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "create_key", "list_keys", "revoke_key"]


def create_key(dsn: str, name: str, scopes: list[str], rate_per_minute: int) -> tuple[str, str]:
    """(key_id, token) of a new key."""
    import psycopg

    from projections.api.auth import SCOPES, hash_secret, new_token
    from projections.errors import ProjectionError

    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ProjectionError(f"Scopes {bad or scopes} are not valid; use a comma-separated subset of {list(SCOPES)}.")
    if rate_per_minute < 1:
        raise ProjectionError(f"--rate-per-minute must be at least 1; got {rate_per_minute}.")
    key_id, secret, token = new_token()
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO api_keys (key_id, name, secret_sha256, scopes, rate_per_minute) VALUES (%s, %s, %s, %s, %s)",
            (key_id, name, hash_secret(secret), scopes, rate_per_minute),
        )
    return key_id, token


def list_keys(dsn: str) -> list[dict[str, Any]]:
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT key_id, name, scopes, rate_per_minute, created_at, revoked_at FROM api_keys ORDER BY created_at"
        ).fetchall()


def revoke_key(dsn: str, key_id: str) -> bool:
    import psycopg

    with psycopg.connect(dsn) as conn:
        cur = conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL", (key_id,))
        return cur.rowcount == 1


def _cmd_keys(args: argparse.Namespace) -> int:
    from projections import migrate
    from projections.api import ApiSettings
    from projections.errors import ProjectionError

    dsn = args.dsn or ApiSettings().pg_dsn.get_secret_value()
    migrate(dsn)  # api_keys comes with the migrations
    if args.action == "create":
        if not args.name:
            raise ProjectionError("keys create needs --name (who or what uses the key).")
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        key_id, token = create_key(dsn, args.name, scopes, args.rate_per_minute)
        print(f"key_id: {key_id}\ntoken:  {token}\n(the token is shown only now; store it in a secret)")
        return 0
    if args.action == "list":
        for k in list_keys(dsn):
            state = f"revoked {k['revoked_at']:%Y-%m-%d %H:%M}" if k["revoked_at"] else "active"
            print(
                f"{k['key_id']}  {k['name']:20}  scopes={','.join(k['scopes']):15} "
                f"rate={k['rate_per_minute']}/min  created {k['created_at']:%Y-%m-%d %H:%M}  {state}"
            )
        return 0
    if not args.key_id:
        raise ProjectionError("keys revoke needs the KEY_ID (see `itscam keys list`).")
    if not revoke_key(dsn, args.key_id):
        raise ProjectionError(f"No active key {args.key_id!r}; `itscam keys list` shows the keys.")
    print(f"revoked {args.key_id}; API workers stop accepting it within ITS_API_KEY_CACHE_S (5 s)")
    return 0


def add_parser(sub: Any) -> None:
    kp = sub.add_parser(
        "keys",
        help="Create, list and revoke API keys.",
        description="create: print a new token its_<key_id>_<secret> once (only its SHA-256 is stored); list: the "
        "keys without secrets; revoke KEY_ID: refuse it from now on (workers cache keys for ITS_API_KEY_CACHE_S).",
    )
    kp.add_argument("action", choices=["create", "list", "revoke"])
    kp.add_argument("key_id", nargs="?", help="revoke: the key id.")
    kp.add_argument("--name", help="create: who or what uses the key.")
    kp.add_argument("--scopes", default="read", help="create: comma-separated read,ops,admin (read).")
    kp.add_argument("--rate-per-minute", type=int, default=600, help="create: requests per minute (600).")
    kp.add_argument("--dsn", help="PostgreSQL DSN (ITS_PG_DSN).")
    kp.set_defaults(fn=_cmd_keys)
