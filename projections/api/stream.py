"""GET /v1/stream: server-sent events from the projector's Redis channel, filtered by camera and event type.

Each event is `event: <type>` + `data: <the message's JSON>`; an idle stream gets a `: heartbeat` comment every
`sse_heartbeat_s` seconds so proxies keep it open. The stream is a live view (nothing replayed: an event may be
missed, or repeated after a rebuild); it ends when the client disconnects (Starlette cancels the generator, which
unsubscribes).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from projections.api.deps import deps
from projections.api.params import parse_csv

__all__ = ["EVENT_TYPES", "stream"]

EVENT_TYPES = ("detections", "count", "incident", "status")


async def stream(request: Request) -> Response:
    d = deps(request)
    cameras = set(parse_csv(request, "camera_id"))
    types = set(parse_csv(request, "types", EVENT_TYPES)) or set(EVENT_TYPES)
    pubsub = d.pubsub_redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(d.settings.events_channel)
    beat = d.settings.sse_heartbeat_s

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 3000\n: connected\n\n"
            last = time.monotonic()
            while True:
                wait = max(0.0, last + beat - time.monotonic())
                msg = await pubsub.get_message(timeout=wait)
                if msg is None or msg.get("type") != "message":
                    if time.monotonic() - last >= beat:
                        yield b": heartbeat\n\n"
                        last = time.monotonic()
                    continue
                try:
                    doc = json.loads(msg["data"])
                    kind, cam = doc["type"], doc["camera_id"]
                except (ValueError, KeyError, TypeError):
                    continue  # not one of ours; the projector publishes only well-formed messages
                if kind not in types or (cameras and cam not in cameras):
                    continue
                data = msg["data"] if isinstance(msg["data"], bytes) else str(msg["data"]).encode()
                yield b"event: " + str(kind).encode() + b"\ndata: " + data.replace(b"\n", b"") + b"\n\n"
                last = time.monotonic()
        finally:
            await pubsub.aclose()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
