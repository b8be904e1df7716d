"""API keys: `its_<key_id>_<secret>` tokens checked against the SHA-256 stored in api_keys, cached per process.

A worker trusts what it looked up (a key, its scopes and rate, or that the key is unknown) for `key_cache_s`
seconds, so authentication is not a PostgreSQL round trip per request; a revoked key therefore keeps working for
at most that long on a worker that had just seen it. A key's `expires_at` (wall clock) is checked on every request,
cached or not. The cache holds at most `max_entries` keys (least recently used dropped first), so a flood of
made-up key ids costs lookups, never memory.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

__all__ = [
    "SCOPES",
    "KeyCache",
    "Principal",
    "hash_secret",
    "new_token",
    "parse_token",
    "scope_allows",
]

#: each scope implies the ones before it
SCOPES = ("read", "ops", "admin")
_TOKEN = re.compile(r"^its_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")


def new_token() -> tuple[str, str, str]:
    """(key_id, secret, token): a 48-bit public id and a 256-bit secret from `secrets`."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, f"its_{key_id}_{secret}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    m = _TOKEN.match(token)
    return (m.group(1), m.group(2)) if m else None


def scope_allows(granted: tuple[str, ...], needed: str) -> bool:
    level = max((SCOPES.index(s) for s in granted if s in SCOPES), default=-1)
    return level >= SCOPES.index(needed)


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    rate_per_minute: int

    def allows(self, needed: str) -> bool:
        return scope_allows(self.scopes, needed)


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float
    principal: Principal | None  # None: unknown or revoked
    secret_sha256: str
    expires_at: float | None = None  # the key's own expiry (epoch seconds), None: never


class KeyCache:
    """Looks keys up in PostgreSQL and remembers the answer for `ttl_s` seconds."""

    def __init__(self, pool: AsyncConnectionPool[Any], ttl_s: float, max_entries: int = 10_000) -> None:
        self.pool = pool
        self.ttl_s = ttl_s
        self.max_entries = max(1, max_entries)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def authenticate(self, token: str) -> Principal | None:
        """The key's principal, or None for a malformed, unknown, revoked or wrong token."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        now = time.monotonic()
        entry = self._entries.get(key_id)
        if entry is None or entry.expires < now:
            entry = await self._load(key_id, now)
        else:
            self._entries.move_to_end(key_id)
        if entry.principal is None or not hmac.compare_digest(entry.secret_sha256, hash_secret(secret)):
            return None
        if entry.expires_at is not None and time.time() >= entry.expires_at:
            return None
        return entry.principal

    async def _load(self, key_id: str, now: float) -> _Entry:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT name, secret_sha256, scopes, rate_per_minute, revoked_at, expires_at FROM api_keys"
                " WHERE key_id = %s",
                (key_id,),
            )
            row = await cur.fetchone()
        if row is None or row[4] is not None:
            entry = _Entry(now + self.ttl_s, None, "")
        else:
            name, digest, scopes, rate, _, expires_at = row
            principal = Principal(key_id, name, tuple(scopes), int(rate))
            entry = _Entry(now + self.ttl_s, principal, digest, expires_at.timestamp() if expires_at else None)
        self._entries[key_id] = entry
        self._entries.move_to_end(key_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)  # least recently used first
        return entry
