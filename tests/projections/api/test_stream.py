"""GET /v1/stream: server-sent events from the projector's Redis channel, through a real uvicorn."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from deploy.stack.settings import StackSettings
from projections.api import ApiSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def api_settings(api_settings: ApiSettings) -> ApiSettings:
    return api_settings.model_copy(update={"sse_heartbeat_s": 1.0})


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) per SSE message; comments come back as ("comment", text)."""
    event, data = "message", ""
    for line in lines:
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif line == "" and data:
            yield event, data
            event, data = "message", ""


def test_stream_delivers_published_events_filtered_with_heartbeats(
    server: str, api_settings: ApiSettings, make_key: Callable[..., str], stack: StackSettings, unique: str
) -> None:
    r = redis.Redis.from_url(stack.redis_url)
    channel = api_settings.events_channel
    cam, other = f"cam-{unique}", f"cam-{unique}-other"
    headers = {"Authorization": f"Bearer {make_key('read')}"}
    params = {"camera_id": cam, "types": "count,incident"}
    with (
        httpx.Client(timeout=10) as c,
        c.stream("GET", f"{server}/v1/stream", params=params, headers=headers) as resp,
    ):
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        events = _events(resp.iter_lines())
        assert next(events) == ("comment", "connected")  # subscribed from here on
        r.publish(channel, json.dumps({"type": "count", "camera_id": other, "data": {"n": 0}}))
        r.publish(channel, json.dumps({"type": "detections", "camera_id": cam, "data": {"n": 1}}))
        r.publish(channel, "not json")
        r.publish(channel, json.dumps({"type": "count", "camera_id": cam, "data": {"event_id": "e1"}}))
        r.publish(channel, json.dumps({"type": "incident", "camera_id": cam, "data": {"incident_id": "i1"}}))
        got = [next(events), next(events)]
        assert got[0][0] == "count" and json.loads(got[0][1])["data"] == {"event_id": "e1"}
        assert got[1][0] == "incident" and json.loads(got[1][1])["camera_id"] == cam
        assert next(events) == ("comment", "heartbeat")  # idle for sse_heartbeat_s
        assert r.pubsub_numsub(channel)[0][1] == 1
    # the client hung up: the server unsubscribes
    deadline = time.monotonic() + 10
    while r.pubsub_numsub(channel)[0][1] != 0:
        assert time.monotonic() < deadline, "the stream's subscription outlived its client"
        time.sleep(0.1)
