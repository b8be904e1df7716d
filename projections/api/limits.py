"""Limits that keep one client from holding a worker: request bodies refused by size before they are read, and
counted slots for the long-lived answers (server-sent event streams, CSV/Parquet downloads) per key and per worker.

`BodyLimit` (pure ASGI, inside the gate so refusals are audited): a Content-Length over `max_bytes` is a 413
before the application runs, so nothing of the body is read; a chunked body is counted as it arrives and the read
that crosses the limit raises the 413 instead of handing the bytes on.

`Slots`: in-process counters (a worker is one process; asyncio, so no lock is needed). A slot is taken before the
answer starts and given back when it ends, however it ends (`SlotResponse`).

`StreamLeases`: the per-key count of event streams across every worker, in Redis (`its:sse:{key_id}`, a sorted set
of stream ids scored by their lease's end): a stream renews its lease while it runs and removes it when it ends, so a
worker that dies leaves leases that lapse within `LEASE_S`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.api.problems import Problem, problem
from projections.api.scripts import ScriptRunner

__all__ = ["LEASE_S", "BodyLimit", "BodyTooLarge", "SlotResponse", "Slots", "StreamLeases", "lease_key"]

#: lifetime of a stream's lease in Redis; a running stream renews it every LEASE_S / 3
LEASE_S = 30.0

# KEYS[1] its:sse:{key_id}; ARGV: stream id, most per key, lease ms. 1 = taken, 0 = the key holds its most already.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == false and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 1000)
return 1
"""


class BodyTooLarge(Problem):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _too_large(max_bytes), headers={"Connection": "close"}, max_bytes=max_bytes)


def _too_large(max_bytes: int) -> str:
    return f"The request body is larger than {max_bytes} bytes (ITS_API_MAX_BODY_BYTES); it was not read."


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length < 0 or length > self.max_bytes:
                    status = 413 if length > self.max_bytes else 400
                    detail = _too_large(self.max_bytes) if status == 413 else "Content-Length is not a number."
                    refusal = problem(scope["path"], status, detail, headers={"Connection": "close"})
                    await refusal(scope, receive, send)
                    return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)


class Slots:
    """At most `per_key` held by one key and `total` in all; `take` answers None (taken) or the reason it is not."""

    def __init__(self, what: str, per_key: int, total: int) -> None:
        self.what = what
        self.per_key = per_key
        self.total = total
        self.held = 0
        self.by_key: dict[str, int] = {}

    def take(self, key_id: str) -> str | None:
        if self.held >= self.total:
            return f"This API worker serves {self.total} {self.what} already; retry shortly."
        if self.by_key.get(key_id, 0) >= self.per_key:
            return f"Key {key_id} holds {self.per_key} {self.what} already (the most per key); close one first."
        self.held += 1
        self.by_key[key_id] = self.by_key.get(key_id, 0) + 1
        return None

    def give_back(self, key_id: str) -> None:
        self.held -= 1
        n = self.by_key.get(key_id, 0) - 1
        if n > 0:
            self.by_key[key_id] = n
        else:
            self.by_key.pop(key_id, None)

    def refusal(self, reason: str, retry_after: int = 5) -> Problem:
        return Problem(429, reason, headers={"Retry-After": str(retry_after)})


class SlotResponse(StreamingResponse):
    """A StreamingResponse that awaits `release` exactly once when it is over: sent, failed, or cancelled by a
    client that went away before the first byte (when the body generator's own `finally` would never run)."""

    def __init__(self, content: Any, release: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release: Callable[[], Awaitable[None]] | None = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            aclose = getattr(self.body_iterator, "aclose", None)
            try:
                if aclose is not None:
                    await aclose()
            finally:
                if self._release is not None:
                    release, self._release = self._release, None
                    await release()


def lease_key(key_id: str) -> str:
    return f"its:sse:{key_id}"


class StreamLeases:
    """At most `per_key` event streams per API key over all workers (Redis); `take` also renews."""

    def __init__(self, scripts: ScriptRunner, per_key: int, lease_s: float = LEASE_S) -> None:
        self.scripts = scripts
        self.per_key = per_key
        self.lease_ms = int(lease_s * 1000)
        self._take = scripts.register(_TAKE)

    async def take(self, key_id: str, stream_id: str) -> bool:
        res = await self.scripts.run(self._take, [lease_key(key_id)], [stream_id, self.per_key, self.lease_ms])
        return bool(res)

    async def give_back(self, key_id: str, stream_id: str) -> None:
        await self.scripts.client.zrem(lease_key(key_id), stream_id)
