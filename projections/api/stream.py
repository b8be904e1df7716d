"""GET /v1/stream: server-sent events from the projector's Redis channel, filtered by camera and event type.

Each event is `event: <type>` + `data: <the message's JSON>`; an idle stream gets a `: heartbeat` comment every
`sse_heartbeat_s` seconds so proxies keep it open. The stream is a live view (nothing replayed: an event may be
missed, or repeated after a rebuild); it ends when the client disconnects (the subscription is closed then).

Limits (projections.api.limits): at most `sse_max_per_key` streams per key over all workers (leases in Redis) and
`sse_max_per_worker` in all per worker process (429 with Retry-After beyond). The key is checked again about every
second through the key cache, so a revoked or expired key's stream ends within `key_cache_s` (+1 s); a stream that
delivered no event for `sse_idle_timeout_s`, or has been open for `sse_max_lifetime_s`, ends too. An ending stream
sends a `: closing <reason>` comment first (key-invalid, idle, lifetime, limit); clients reconnect.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from projections.api.deps import deps
from projections.api.gate import token_of
from projections.api.limits import LEASE_S, SlotResponse, StreamLeases
from projections.api.params import parse_csv
from projections.api.problems import UNAVAILABLE

__all__ = ["EVENT_TYPES", "stream"]

EVENT_TYPES = ("detections", "count", "incident", "status")
_KEY_RECHECK_S = 1.0  # through the key cache: a dict lookup until the cached entry is older than key_cache_s


async def stream(request: Request) -> Response:
    d = deps(request)
    cfg = d.settings
    cameras = set(parse_csv(request, "camera_id"))
    types = set(parse_csv(request, "types", EVENT_TYPES)) or set(EVENT_TYPES)
    principal = request.scope["state"]["principal"]
    token = token_of(request.scope) or ""
    key_id: str = principal.key_id
    stream_id = uuid.uuid4().hex
    leases: StreamLeases | None = d.leases
    refused = d.streams.take(key_id)
    if refused is not None:
        raise d.streams.refusal(refused)
    try:
        if leases is not None and not await leases.take(key_id, stream_id):
            raise d.streams.refusal(
                f"Key {key_id} holds {cfg.sse_max_per_key} event streams already (the most per key, over all API "
                "workers); close one first."
            )
        pubsub = d.pubsub_redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(cfg.events_channel)
    except BaseException:
        d.streams.give_back(key_id)
        if leases is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await leases.give_back(key_id, stream_id)
        raise
    beat = cfg.sse_heartbeat_s
    recheck = min(_KEY_RECHECK_S, max(0.05, cfg.key_cache_s))

    async def key_still_valid() -> bool:
        try:
            return await d.keys.authenticate(token) is not None
        except UNAVAILABLE:
            return True  # PostgreSQL down: keep the trusted stream; the next check decides

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 3000\n: connected\n\n"
            opened = last = last_event = last_check = renewed = time.monotonic()
            while True:
                now = time.monotonic()
                if leases is not None and now - renewed >= LEASE_S / 3:
                    renewed = now
                    with contextlib.suppress(*UNAVAILABLE):  # Redis down: the pub/sub below tells
                        if not await leases.take(key_id, stream_id):
                            yield b": closing limit\n\n"
                            return
                if now - last_check >= recheck:
                    last_check = now
                    if not await key_still_valid():
                        yield b": closing key-invalid\n\n"
                        return
                if now - last_event >= cfg.sse_idle_timeout_s:
                    yield b": closing idle\n\n"
                    return
                if now - opened >= cfg.sse_max_lifetime_s:
                    yield b": closing lifetime\n\n"
                    return
                deadline = min(
                    last + beat,
                    last_check + recheck,
                    last_event + cfg.sse_idle_timeout_s,
                    opened + cfg.sse_max_lifetime_s,
                )
                wait = max(0.0, deadline - now)
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
                last = last_event = time.monotonic()
        finally:
            await pubsub.aclose()

    async def release() -> None:  # once, however the response ends (SlotResponse)
        d.streams.give_back(key_id)
        try:
            if leases is not None:
                with contextlib.suppress(*UNAVAILABLE):
                    await leases.give_back(key_id, stream_id)
        finally:
            await pubsub.aclose()

    return SlotResponse(
        events(),
        release,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
