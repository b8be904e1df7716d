"""Redis caches the projector keeps: the latest detections per camera (rebuildable from the topic)."""

from __future__ import annotations

import json
from typing import Any

import redis

from schemas.events import DetectionsProduced

__all__ = ["LiveCache", "live_key"]

# Set only when the event is at least as new as what is cached, so replays and reordering never
# overwrite a newer state with an older one.
_SET_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], 'ts')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'ts', ARGV[1], 'json', ARGV[2])
return 1
"""


def live_key(camera_id: str) -> str:
    return f"its:live:{camera_id}"


def live_document(e: DetectionsProduced) -> dict[str, Any]:
    return {
        "camera_id": e["camera_id"],
        "frame_seq": e["frame_seq"],
        "captured_at": e["captured_at"].isoformat(),
        "produced_at": e["produced_at"].isoformat(),
        "width": e["width"],
        "height": e["height"],
        "model": e["model"],
        "detections": e["detections"],
    }


class LiveCache:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._script = client.register_script(_SET_IF_NEWER)

    def update(self, events: list[DetectionsProduced]) -> None:
        latest: dict[str, DetectionsProduced] = {}
        for e in events:
            cur = latest.get(e["camera_id"])
            if cur is None or e["captured_at"] >= cur["captured_at"]:
                latest[e["camera_id"]] = e
        pipe = self.client.pipeline(transaction=False)
        for cam, e in latest.items():
            ts = int(e["captured_at"].timestamp() * 1_000_000)
            self._script(keys=[live_key(cam)], args=[ts, json.dumps(live_document(e))], client=pipe)
        pipe.execute()
