"""A lean Redis client for the per-request Lua scripts: one pipelined connection per API worker, hiredis' C
parser, a FIFO of futures. redis-py's general client spends several times the CPU per call (connection pool,
locks, per-argument encoders) on what is, on the hot routes, the request's only Redis round trip.

Replies arrive in request order on one connection, so each reply resolves the oldest waiter; a waiter that timed
out still takes its reply (and drops it), which keeps the two in step. A lost connection fails every waiter
with redis.ConnectionError (a 503 to the client) and the next call reconnects.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from typing import Any

import hiredis
import redis
from redis.connection import parse_url

__all__ = ["Script", "ScriptClient"]


def _pack(args: tuple[bytes | str | int, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiters: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(redis.ConnectionError(f"Redis closed the connection ({exc or 'EOF'})"))


class ScriptClient:
    def __init__(self, url: str, timeout_s: float) -> None:
        opts = parse_url(url)  # type: ignore[no-untyped-call]
        self.host = str(opts.get("host", "127.0.0.1"))
        self.port = int(opts.get("port", 6379))
        self.db = int(opts.get("db", 0))
        self.username = opts.get("username")
        self.password = opts.get("password")
        self.timeout_s = timeout_s
        self._proto: _Protocol | None = None
        self._lock = asyncio.Lock()

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and not proto.closed:
            return proto
        async with self._lock:
            if self._proto is None or self._proto.closed:
                loop = asyncio.get_running_loop()
                try:
                    async with asyncio.timeout(self.timeout_s):
                        _, proto = await loop.create_connection(_Protocol, self.host, self.port)
                except (OSError, TimeoutError) as e:
                    raise redis.ConnectionError(f"Cannot connect to Redis at {self.host}:{self.port}: {e!r}") from e
                self._proto = proto
                if self.password:
                    auth = (self.username, self.password) if self.username else (self.password,)
                    await self._call(proto, b"AUTH", *auth)
                if self.db:
                    await self._call(proto, b"SELECT", self.db)
            assert self._proto is not None
            return self._proto

    async def _call(self, proto: _Protocol, *args: Any) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        proto.waiters.append(fut)
        assert proto.transport is not None
        proto.transport.write(_pack(args))
        try:
            async with asyncio.timeout(self.timeout_s):
                reply = await fut
        except TimeoutError:
            raise redis.TimeoutError(f"Redis at {self.host}:{self.port} did not answer in {self.timeout_s} s") from None
        if isinstance(reply, hiredis.ReplyError):
            raise redis.ResponseError(str(reply))
        return reply

    async def run(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        proto = await self._connection()
        try:
            return await self._call(proto, b"EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.ResponseError as e:
            if not str(e).startswith("NOSCRIPT"):
                raise
            return await self._call(proto, b"EVAL", script.source, len(keys), *keys, *args)

    def close(self) -> None:
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.close()


class Script:
    def __init__(self, source: str) -> None:
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest().encode()
