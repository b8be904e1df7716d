"""A transaction call blocked past its timeout ends the process (librdkafka#5456), one that returns in time does
not."""

from __future__ import annotations

import threading
import time

from inference.watchdog import EXIT_WEDGED, CallWatchdog


def test_a_call_blocked_past_its_timeout_and_grace_ends_the_process() -> None:
    ended: list[int] = []
    done = threading.Event()

    def on_expire(code: int) -> None:
        ended.append(code)
        done.set()

    dog = CallWatchdog(grace_s=0.2, on_expire=on_expire, tick_s=0.05)
    try:
        with dog.guard("send_offsets_to_transaction", 0.1):
            assert done.wait(5), "the watchdog did not fire"
    finally:
        dog.close()
    assert ended == [EXIT_WEDGED]


def test_calls_that_return_in_time_never_end_it() -> None:
    ended: list[int] = []
    dog = CallWatchdog(grace_s=0.2, on_expire=ended.append, tick_s=0.05)
    try:
        for _ in range(5):
            with dog.guard("commit_transaction", 0.1):
                time.sleep(0.05)
        time.sleep(0.5)  # well past every deadline, with no call in progress
    finally:
        dog.close()
    assert ended == []
