"""A deadline on blocking Kafka transaction calls: the process ends when one outlives it.

librdkafka's `send_offsets_to_transaction()` can block past its own timeout, for good, when the group coordinator
it had cached goes away (a broker killed and restarted): confluentinc/librdkafka#5456 and #5511, seen here with
librdkafka 2.16.0 in `itscam chaos` (both inference replicas wedged after `broker_restart`, the pipeline stalled).
Nothing in the process can interrupt that C call, so a watchdog thread ends the process instead; its restart
(Kubernetes, or `itscam chaos`'s supervisor) calls `init_transactions()` with the same transactional.id, which
aborts the wedged transaction, and the frames are read again from the last committed offsets: exactly once still
holds. The exit status is EXIT_WEDGED.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["EXIT_WEDGED", "CallWatchdog"]

log = logging.getLogger(__name__)

#: exit status of a process ended by the watchdog (sysexits' EX_SOFTWARE)
EXIT_WEDGED = 70


def _exit_now(code: int) -> None:
    logging.shutdown()  # the critical line reaches the log before the process goes
    os._exit(code)


class CallWatchdog:
    """`with watchdog.guard("commit_transaction", 60):` around a blocking call; `grace_s` is added to the call's
    own timeout before the process is ended (`on_expire(EXIT_WEDGED)`; tests pass their own)."""

    def __init__(self, grace_s: float = 5.0, on_expire: Callable[[int], None] = _exit_now, tick_s: float = 0.5) -> None:
        self.grace_s = grace_s
        self.on_expire = on_expire
        self.tick_s = tick_s
        self._lock = threading.Lock()
        self._deadline: tuple[float, str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="txn-watchdog", daemon=True)
        self._thread.start()

    @contextmanager
    def guard(self, what: str, timeout_s: float) -> Iterator[None]:
        with self._lock:
            self._deadline = (time.monotonic() + timeout_s + self.grace_s, what)
        try:
            yield
        finally:
            with self._lock:
                self._deadline = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2 * self.tick_s + 1)

    def _watch(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self._lock:
                due = self._deadline
            if due is not None and time.monotonic() > due[0]:
                log.critical(
                    "%s has been blocked past its timeout (librdkafka#5456: a lost group coordinator); ending the "
                    "process so its restart aborts the transaction and resumes from the committed offsets",
                    due[1],
                )
                with self._lock:
                    self._deadline = None
                self.on_expire(EXIT_WEDGED)
