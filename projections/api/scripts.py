"""The per-request Lua scripts, run through redis-py's asyncio client with concurrent calls sent as one pipeline.

redis-py spends most of a call's CPU on what surrounds the command (pool checkout and release, the retry wrapper,
its observability hooks, a write and a read of its own), about 4x what the hot routes' one script call costs on the
wire. Calls queue for the next batch, which leaves on the next turn of the loop unless `max_in_flight` batches are
out (each on its own pooled connection), and then as soon as one returns; so an idle API adds no delay. Each batch
is one redis-py pipeline (`transaction=False`): one checkout, one write, the replies read in order, and one failed
command fails only its own call.

Scripts are redis-py Script objects (EVALSHA by digest). A NOSCRIPT reply (Redis restarted or flushed since the
script was loaded) sends that call once more through the Script object, which loads the script and retries. A batch
that cannot reach Redis fails each of its calls with redis-py's error (ConnectionError, TimeoutError: a 503).
Connection setup (redis://, rediss://, unix://, AUTH, the db number) is redis-py's, from the one URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

__all__ = ["ScriptRunner"]

_Call = tuple[AsyncScript, Sequence[str], Sequence[Any], "asyncio.Future[Any]"]


class ScriptRunner:
    def __init__(self, client: aioredis.Redis, max_in_flight: int = 2) -> None:
        self.client = client
        self.max_in_flight = max_in_flight
        self._queue: list[_Call] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, source: str) -> AsyncScript:
        return self.client.register_script(source)

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """The script's reply; raises what redis-py raises for it."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, keys, args, fut))
        self._schedule()
        return await fut

    def _schedule(self) -> None:
        if self._queue and not self._scheduled and self._in_flight < self.max_in_flight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._queue or self._in_flight >= self.max_in_flight:
            return
        batch, self._queue = self._queue, []
        self._in_flight += 1
        task = asyncio.ensure_future(self._send(batch))
        self._tasks.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight -= 1
        self._schedule()

    async def _send(self, batch: list[_Call]) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for script, keys, args, _ in batch:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        except BaseException as e:
            for *_, fut in batch:
                if not fut.done():
                    fut.set_exception(e)
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        for (script, keys, args, fut), reply in zip(batch, replies, strict=True):
            if isinstance(reply, NoScriptError):
                self._tasks.add(task := asyncio.ensure_future(self._reload(script, keys, args, fut)))
                task.add_done_callback(self._tasks.discard)
            elif fut.done():
                pass  # its request went away (client disconnect, timeout)
            elif isinstance(reply, Exception):
                fut.set_exception(reply)
            else:
                fut.set_result(reply)

    async def _reload(
        self, script: AsyncScript, keys: Sequence[str], args: Sequence[Any], fut: asyncio.Future[Any]
    ) -> None:
        try:
            reply = await script(keys, args)
        except Exception as e:
            if not fut.done():
                fut.set_exception(e)
            return
        if not fut.done():
            fut.set_result(reply)

    async def aclose(self) -> None:
        """Wait for the batches in flight (their requests are waiting on them)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
