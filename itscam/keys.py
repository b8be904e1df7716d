"""`itscam keys create|list|revoke`: API keys (the api_keys table, projections/api/keys.py). The token is printed
once; only the SHA-256 of its secret is stored."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from itscam.errors import CliError

__all__ = ["add_parser", "parse_duration"]

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `3600s`, `2w` as a timedelta (a CliError naming the form otherwise)."""
    m = _DURATION.match(text.strip().lower())
    if m is None or int(m.group(1)) < 1:
        raise CliError(f"--expires-in {text!r} is not a duration; use a positive number and s, m, h, d or w (30d).")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def _cmd_keys(args: argparse.Namespace) -> int:
    from projections import migrate
    from projections.api import ApiSettings
    from projections.api.keys import create_key, list_keys, revoke_key

    dsn = args.dsn or ApiSettings().pg_dsn.get_secret_value()
    migrate(dsn)  # api_keys comes with the migrations
    if args.action == "create":
        if not args.name:
            raise CliError("keys create needs --name (who or what uses the key).")
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        expires_at = datetime.now(UTC) + parse_duration(args.expires_in) if args.expires_in else None
        key_id, token = create_key(dsn, args.name, scopes, args.rate_per_minute, expires_at)
        print(f"key_id: {key_id}\ntoken:  {token}\n(the token is shown only now; store it in a secret)")
        if expires_at is not None:
            print(f"expires: {expires_at:%Y-%m-%d %H:%M:%S} UTC")
        return 0
    if args.action == "list":
        now = datetime.now(UTC)
        for k in list_keys(dsn):
            if k["revoked_at"]:
                state = f"revoked {k['revoked_at']:%Y-%m-%d %H:%M}"
            elif k["expires_at"] and k["expires_at"] <= now:
                state = f"expired {k['expires_at']:%Y-%m-%d %H:%M}"
            elif k["expires_at"]:
                state = f"active (expires {k['expires_at']:%Y-%m-%d %H:%M})"
            else:
                state = "active"
            print(
                f"{k['key_id']}  {k['name']:20}  scopes={','.join(k['scopes']):15} "
                f"rate={k['rate_per_minute']}/min  created {k['created_at']:%Y-%m-%d %H:%M}  {state}"
            )
        return 0
    if not args.key_id:
        raise CliError("keys revoke needs the KEY_ID (see `itscam keys list`).")
    if not revoke_key(dsn, args.key_id):
        raise CliError(f"No active key {args.key_id!r}; `itscam keys list` shows the keys.")
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
    kp.add_argument(
        "--expires-in", help="create: the key stops working after this long (30d, 12h, 90m, 2w); default: never."
    )
    kp.add_argument("--dsn", help="PostgreSQL DSN (ITS_PG_DSN).")
    kp.set_defaults(fn=_cmd_keys)
