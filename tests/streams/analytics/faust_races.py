"""`itscam analytics` with one of Faust's resume races forced (FAKE: injects upstream faust-streaming bugs).

The races lose input records when a worker resumes a partition; on their own they strike now and then (CI once),
so a test cannot wait for them. Each mode drops records the way one does, around the real Faust code:

- `drop-burst` drops records 4 to 33 that each partition delivers to the agent in a process, the pattern seen
  here when recovery's final `flow_control.resume()` cleared the records queued after the seek (upstream #596);
- `drop-first` drops the first record each partition delivers to the agent in a process, acked as Faust's commit
  ends up treating it (upstream #606).

And one of ours, FAKE: `fail-frame-50` makes applying frame 50 of any camera raise after it changed the state (a
bug validate.py does not catch), to check the state is rebuilt as it was before the frame.

    python -m tests.streams.analytics.faust_races drop-burst|drop-first|fail-frame-50   # env of `itscam analytics`
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import Any

import faust.streams

from itscam.main import main


def _drop_burst() -> None:
    events = faust.streams.Stream.events

    async def events_dropping_a_burst(self: Any) -> AsyncIterator[Any]:
        count: dict[Any, int] = {}
        async for event in events(self):
            tp = event.message.tp
            n = count[tp] = count.get(tp, 0) + 1
            if 3 < n <= 33:
                if n == 4:
                    print(f"FAKE: dropping {tp.topic}[{tp.partition}]@{event.message.offset}+30", file=sys.stderr)
                continue  # acked when the stream moves on, never seen by the agent
            yield event

    faust.streams.Stream.events = events_dropping_a_burst  # type: ignore[assignment,method-assign]


def _drop_first() -> None:
    events = faust.streams.Stream.events

    async def events_dropping_first(self: Any) -> AsyncIterator[Any]:
        seen: set[Any] = set()
        async for event in events(self):
            tp = event.message.tp
            if tp not in seen:
                seen.add(tp)
                print(f"FAKE: dropped {tp.topic}[{tp.partition}]@{event.message.offset}", file=sys.stderr, flush=True)
                continue  # acked when the stream moves on, never seen by the agent
            yield event

    faust.streams.Stream.events = events_dropping_first  # type: ignore[assignment,method-assign]


def _fail_frame_50() -> None:
    from streams.analytics.camera import CameraAnalytics

    process = CameraAnalytics.process

    def failing(self: CameraAnalytics, ev: Any, cfg: Any) -> Any:
        out = process(self, ev, cfg)  # the state is changed first: the worker must undo it
        if ev["frame_seq"] == 50:
            raise RuntimeError("FAKE: frame 50 cannot be applied")
        return out

    CameraAnalytics.process = failing  # type: ignore[method-assign]


if __name__ == "__main__":
    {"drop-burst": _drop_burst, "drop-first": _drop_first, "fail-frame-50": _fail_frame_50}[sys.argv[1]]()
    sys.exit(main(["analytics"]))
