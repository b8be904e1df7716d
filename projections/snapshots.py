"""Camera stills: the latest frame of each camera from its.snapshots.v1, kept in Redis for a short time.

Key its:snap:{camera_id}, a hash: jpeg (the JPEG bytes as ingest encoded them), captured_at (ISO 8601), frame_seq,
width, height. It expires `ttl_s` after the still arrived: the page shows the camera's picture to draw lines on, and
nothing keeps a video archive. Writes are idempotent; a still older than the one kept is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from schemas.events import FrameCaptured

__all__ = ["read_fields", "snapshot_key", "write_snapshots"]

# Replace the kept still only with a newer one (by capture time in microseconds), and (re)set its expiry.
_SET_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], 'at_us')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'at_us', ARGV[1], 'jpeg', ARGV[2], 'captured_at', ARGV[3], 'frame_seq', ARGV[4],
  'width', ARGV[5], 'height', ARGV[6])
redis.call('EXPIRE', KEYS[1], ARGV[7])
return 1
"""

#: what the API reads back, in this order
read_fields = ("jpeg", "captured_at", "frame_seq", "width", "height")


def snapshot_key(camera_id: str) -> str:
    return f"its:snap:{camera_id}"


def write_snapshots(client: redis.Redis, frames: Iterable[FrameCaptured], ttl_s: int) -> None:
    """Keep the newest still of each camera among `frames` (one pipelined round trip)."""
    latest: dict[str, FrameCaptured] = {}
    for f in frames:
        cur = latest.get(f["camera_id"])
        if cur is None or f["captured_at"] >= cur["captured_at"]:
            latest[f["camera_id"]] = f
    if not latest:
        return
    script: Any = client.register_script(_SET_IF_NEWER)
    pipe = client.pipeline(transaction=False)
    for cam, f in latest.items():
        at = f["captured_at"]
        args = [int(at.timestamp() * 1_000_000), f["image"], at.isoformat(), f["frame_seq"], f["width"], f["height"]]
        script(keys=[snapshot_key(cam)], args=[*args, ttl_s], client=pipe)
    pipe.execute()
