"""The audit log: one audit_log row per request, queued in memory and written in batches by a background task.

The request path only appends to a list; a task COPYs the rows every `flush_s` seconds (or sooner when a batch
is full), and the lifespan's shutdown writes what is left. While PostgreSQL is down rows wait, up to
`max_pending`; beyond that the oldest are dropped and counted (its_api_audit_dropped_total), never silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from projections.api import metrics as m

__all__ = ["AuditRow", "AuditWriter"]

log = logging.getLogger(__name__)

#: (at, key_id, method, path, route, query, status, duration_ms, client, request_id)
AuditRow = tuple[datetime, str | None, str, str, str | None, str, int, float, str | None, str]

_COPY = "COPY audit_log (at, key_id, method, path, route, query, status, duration_ms, client, request_id) FROM STDIN"


class AuditWriter:
    def __init__(self, pool: AsyncConnectionPool[Any], flush_s: float, batch: int, max_pending: int) -> None:
        self.pool = pool
        self.flush_s = flush_s
        self.batch = batch
        self.max_pending = max_pending
        self._rows: list[AuditRow] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(self, row: AuditRow) -> None:
        self._rows.append(row)
        if len(self._rows) > self.max_pending:
            drop = len(self._rows) - self.max_pending
            del self._rows[:drop]
            m.AUDIT_DROPPED.inc(drop)
        if len(self._rows) >= self.batch:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            try:
                await self.flush()
            except (psycopg.OperationalError, PoolTimeout) as e:
                log.warning("audit rows wait for PostgreSQL", extra={"pending": len(self._rows), "error": str(e)})
                await asyncio.sleep(self.flush_s)

    async def flush(self) -> int:
        """Write every queued row now; return how many were written."""
        written = 0
        while self._rows:
            rows, self._rows = self._rows[: self.batch], self._rows[self.batch :]
            try:
                async with self.pool.connection() as conn, conn.cursor() as cur, cur.copy(_COPY) as copy:
                    for r in rows:
                        await copy.write_row(r)
            except (psycopg.OperationalError, PoolTimeout):
                self._rows[:0] = rows  # the database is down: keep them for the next try
                raise
            except psycopg.Error as e:  # a row PostgreSQL refuses must not block the ones behind it
                log.error("audit batch refused; dropped", extra={"rows": len(rows), "error": str(e)})
                m.AUDIT_DROPPED.inc(len(rows))
                continue
            written += len(rows)
            m.AUDIT_WRITTEN.inc(len(rows))
        return written
