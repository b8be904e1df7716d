"""Redis clients of the projector and the API: TLS for rediss://, the start-up check, and the bounded query cache.

Two kinds of data live in Redis and must not share an eviction policy:
  * state (the projector's its:live/its:status/its:counts hashes, stills its:snap:*, the API's rate-limit buckets
    its:rl:*): kept in the instance of ITS_REDIS_URL, which runs with `maxmemory-policy noeviction` so nothing is
    ever evicted to make room (a full instance refuses writes, it never drops a counter);
  * the query cache (its:qc:*, the API's counts/fleet answers): in the instance of ITS_API_CACHE_REDIS_URL (its own
    maxmemory and `allkeys-lru`), or, when that is unset, in the state instance but bounded: every entry has a TTL,
    entries are not written while that instance is over `FILL_LIMIT` of its maxmemory, and a refused write (OOM) or
    an unreachable cache is a miss, never an error answer.

rediss:// URLs connect with TLS (redis-py's SSLConnection); the server certificate is verified (CERT_REQUIRED,
hostname checked) against the CA of ITS_REDIS_CA_FILE, or `ssl_ca_certs` in the URL, or the system's CAs.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from projections.errors import ProjectionError

__all__ = [
    "FILL_LIMIT",
    "QueryCache",
    "RedisStartupError",
    "RedisTls",
    "async_client",
    "check_async",
    "check_sync",
    "client_kwargs",
    "sync_client",
]

log = logging.getLogger(__name__)

#: share of the state instance's maxmemory above which the fallback query cache stops writing entries
FILL_LIMIT = 0.5
_MEMORY_CHECK_S = 1.0
_CHECK_SHARE = 0.05


class RedisTls(BaseSettings):
    """TLS material for rediss:// URLs (prefix ITS_REDIS_); a value given in the URL's query wins."""

    model_config = SettingsConfigDict(env_prefix="ITS_REDIS_", extra="ignore")

    ca_file: str | None = Field(None, description="PEM file of the CA(s) that signed the Redis server certificate.")
    cert_file: str | None = Field(None, description="Client certificate (PEM) when Redis requires mutual TLS.")
    key_file: str | None = Field(None, description="Private key (PEM) of the client certificate.")


class RedisStartupError(ProjectionError):
    """Redis refused the configured credentials or TLS failed at start-up (the message names the setting)."""


def client_kwargs(url: str) -> dict[str, Any]:
    """Extra redis-py arguments for `url`: for rediss://, certificate verification on and the configured CA."""
    if urlsplit(url).scheme.lower() != "rediss":
        return {}
    tls = RedisTls()
    query = urlsplit(url).query
    kw: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if tls.ca_file and "ssl_ca_certs=" not in query:
        kw["ssl_ca_certs"] = tls.ca_file
    if tls.cert_file and "ssl_certfile=" not in query:
        kw["ssl_certfile"] = tls.cert_file
    if tls.key_file and "ssl_keyfile=" not in query:
        kw["ssl_keyfile"] = tls.key_file
    for k in ("ssl_cert_reqs", "ssl_check_hostname"):
        if f"{k}=" in query:
            kw.pop(k)  # an explicit URL value (e.g. a test's) is the operator's choice
    return kw


def sync_client(url: str, **kw: Any) -> redis.Redis:
    return redis.Redis.from_url(url, **{**client_kwargs(url), **kw})


def async_client(url: str, **kw: Any) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, **{**client_kwargs(url), **kw})


def _auth_failed(e: BaseException) -> bool:
    if isinstance(e, redis.AuthenticationError | redis.AuthenticationWrongNumberOfArgsError):
        return True
    text = str(e).upper()
    return isinstance(e, redis.ResponseError) and ("NOAUTH" in text or "WRONGPASS" in text or "NOPERM" in text)


def _tls_failed(url: str, e: BaseException) -> bool:
    """A rediss:// connection that failed although its TCP port answers: the TLS handshake failed (a plain server,
    a certificate the CA does not verify, a hostname mismatch), not an outage."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "rediss" or not isinstance(e, redis.ConnectionError | redis.TimeoutError):
        return False
    try:
        with socket.create_connection((parts.hostname or "localhost", parts.port or 6379), timeout=2):
            return True
    except OSError:
        return False


def _startup_error(url: str, setting: str, e: BaseException) -> RedisStartupError | None:
    """The start-up error for what a PING raised, or None when Redis is merely unreachable (retried later)."""
    if _auth_failed(e):
        return RedisStartupError(
            f"Redis refused the credentials of {setting} (AUTH failed): set the right user and password in "
            f"{setting} (redis://USER:PASSWORD@HOST:PORT/DB)."
        )
    if _tls_failed(url, e):
        return RedisStartupError(
            f"The TLS connection to the Redis of {setting} failed ({type(e).__name__}): rediss:// needs a TLS port "
            "whose certificate the CA of ITS_REDIS_CA_FILE (or ssl_ca_certs in the URL) verifies."
        )
    return None


def check_sync(client: redis.Redis, url: str, setting: str) -> None:
    """PING with the configured credentials. Wrong credentials or a failed TLS handshake raise RedisStartupError
    (the process must not start); an unreachable Redis is only logged (the caches catch up once it is back)."""
    try:
        client.ping()
    except redis.RedisError as e:
        err = _startup_error(url, setting, e)
        if err is not None:
            raise err from None
        log.warning("Redis unreachable at start-up; continuing", extra={"setting": setting, "error": type(e).__name__})


async def check_async(client: aioredis.Redis, url: str, setting: str) -> None:
    """check_sync for the asyncio client."""
    try:
        await client.ping()
    except redis.RedisError as e:
        err = _startup_error(url, setting, e)
        if err is not None:
            raise err from None
        log.warning("Redis unreachable at start-up; continuing", extra={"setting": setting, "error": type(e).__name__})


class QueryCache:
    """The API's cache of query answers. `separate`: the client is the cache instance (ITS_API_CACHE_REDIS_URL,
    evicting on its own); otherwise it is the state instance, and entries are written only while that instance is
    below FILL_LIMIT of its maxmemory. Errors of a read or a write are misses (counted), never raised."""

    def __init__(self, client: aioredis.Redis, separate: bool, fill_limit: float = FILL_LIMIT) -> None:
        self.client = client
        self.separate = separate
        self.fill_limit = fill_limit
        self._full = False
        self._checked = 0.0
        self._cap = 0  # the instance's maxmemory (0: none)
        self._since = 0  # bytes written since the last memory check
        self.skipped = 0  # writes left out (full, refused or failed): tests and metrics read it

    async def get(self, key: str) -> bytes | None:
        try:
            raw = await self.client.get(key)
        except redis.RedisError as e:
            log.debug("query cache read failed: a miss", extra={"error": type(e).__name__})
            return None
        return raw.encode() if isinstance(raw, str) else raw

    async def _over_limit(self, size: int) -> bool:
        """Whether the state instance is too full for another entry: INFO memory is read again every second, and
        sooner once the bytes written since the last read reach 5% of maxmemory, so a flood cannot overshoot."""
        if self.separate:
            return False
        self._since += size
        now = time.monotonic()
        if now - self._checked >= _MEMORY_CHECK_S or (self._cap and self._since >= self._cap * _CHECK_SHARE):
            self._checked, self._since = now, 0
            info = await self.client.info("memory")
            self._cap = int(info.get("maxmemory", 0) or 0)
            self._full = self._cap > 0 and int(info.get("used_memory", 0)) >= self._cap * self.fill_limit
        return self._full

    async def set(self, key: str, body: bytes, px: int) -> bool:
        """Cache `body` for `px` ms (always with a TTL); False when it was left out."""
        try:
            if await self._over_limit(len(body) + len(key)):
                self.skipped += 1
                return False
            await self.client.set(key, body, px=max(1, px))
            return True
        except redis.RedisError as e:  # OOM (a full noeviction instance), down, timeout: the answer is served anyway
            self.skipped += 1
            if isinstance(e, redis.ResponseError) and str(e).startswith("OOM"):
                self._full, self._checked = True, time.monotonic()
            log.debug("query cache write left out", extra={"error": type(e).__name__})
            return False

    async def aclose(self) -> None:
        await self.client.aclose()
