"""Camera stills: the latest frame of each camera from its.snapshots.v1, kept in Redis for a short time, with the
persons on it blurred unless the camera's configuration says `blur_persons: false`.

Key its:snap:{camera_id}, a hash: jpeg (the JPEG bytes), captured_at (ISO 8601), frame_seq, width, height, at_us,
blurred ("1" when the persons of that frame were blurred or it had none, "0" when it was kept as captured because
the camera turns blurring off). It expires `ttl_s` after the still arrived: the page shows the camera's picture to
draw lines on, and nothing keeps a video archive. Writes are idempotent; a still older than the one kept is ignored.

Blurring needs the detections of the same frame (its.detections.v1, matched on frame_seq), which come later than
the still (inference runs in between) or, now and then, earlier:
  - a still of a camera that blurs is parked in its:snap:pending:{camera_id} (expiring after PENDING_TTL_S) until
    the DetectionsProduced of its frame_seq arrives; then its person boxes (COCO class 0, "person") are pixelated
    and blurred and only then is the still published to its:snap:{camera_id};
  - person boxes of the last RECENT_FRAMES frames per camera are remembered in memory for the other order;
  - detections of a model (or ITS_INFERENCE_CLASSES) without the class "person" cannot blur: such a frame's still
    is never published;
  - when the detections never come (inference down, the frame dropped), the pending still expires unseen and the
    previous blurred still stays served until its own TTL; after that the API answers 404. An unblurred still of a
    camera that blurs is never written to its:snap:{camera_id}, and the API refuses one marked blurred=0 when the
    camera's configuration blurs (the setting was turned back on).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cv2
import numpy as np
import psycopg
import redis

from schemas.events import DetectionsProduced, FrameCaptured

__all__ = [
    "PENDING_TTL_S",
    "PERSON_CLASS_ID",
    "StillBlurrer",
    "blur_boxes",
    "blur_settings_from_pg",
    "pending_key",
    "person_boxes",
    "read_fields",
    "snapshot_key",
    "write_snapshots",
]

#: how long a still waits for the detections of its frame before it is given up
PENDING_TTL_S = 30
#: frames per camera whose person boxes are remembered (detections that arrive before their still)
RECENT_FRAMES = 64
#: COCO's class id of a person (inference keeps persons in DetectionsProduced; analytics ignores them)
PERSON_CLASS_ID = 0
PERSON_CLASS_NAME = "person"

# Replace the kept still only with a newer one (by capture time in microseconds), and (re)set its expiry.
_SET_IF_NEWER = """
local cur = redis.call('HGET', KEYS[1], 'at_us')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'at_us', ARGV[1], 'jpeg', ARGV[2], 'captured_at', ARGV[3], 'frame_seq', ARGV[4],
  'width', ARGV[5], 'height', ARGV[6], 'blurred', ARGV[8])
redis.call('EXPIRE', KEYS[1], ARGV[7])
return 1
"""

log = logging.getLogger(__name__)

#: what the API reads back, in this order
read_fields = ("jpeg", "captured_at", "frame_seq", "width", "height", "blurred")

#: (x1, y1, x2, y2) in the pixels of the detections' frame size, and that size
Boxes = tuple[tuple[float, float, float, float], ...]


def snapshot_key(camera_id: str) -> str:
    return f"its:snap:{camera_id}"


def pending_key(camera_id: str) -> str:
    return f"its:snap:pending:{camera_id}"


def person_boxes(d: DetectionsProduced) -> Boxes:
    """The boxes of persons: class name "person", or COCO's class 0 of a model whose class 0 is "person"."""
    coco = d["model"]["class_names"][:1] == [PERSON_CLASS_NAME]
    return tuple(
        (b["x1"], b["y1"], b["x2"], b["y2"])
        for b in d["detections"]
        if b["class_name"] == PERSON_CLASS_NAME or (coco and b["class_id"] == PERSON_CLASS_ID)
    )


def blur_boxes(jpeg: bytes, boxes: Boxes, box_size: tuple[int, int], quality: int = 90) -> bytes:
    """The JPEG with every box pixelated (blocks of about 1/8 of the box) then Gaussian-blurred: a face or a
    figure is not recognisable. Boxes are in `box_size` (width, height) pixels, scaled to the image; padded by 10%."""
    if not boxes:
        return jpeg
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"a still does not decode as JPEG ({len(jpeg)} bytes)")
    h, w = img.shape[:2]
    sx, sy = w / max(1, box_size[0]), h / max(1, box_size[1])
    for x1, y1, x2, y2 in boxes:
        px, py = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
        a, b = max(0, int((x1 - px) * sx)), max(0, int((y1 - py) * sy))
        c, d = min(w, int(np.ceil((x2 + px) * sx))), min(h, int(np.ceil((y2 + py) * sy)))
        if c - a < 2 or d - b < 2:
            continue
        roi = img[b:d, a:c]
        small = cv2.resize(roi, (max(1, (c - a) // 8), max(1, (d - b) // 8)), interpolation=cv2.INTER_AREA)
        roi = cv2.resize(small, (c - a, d - b), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(c - a, d - b) // 4) | 1)
        img[b:d, a:c] = cv2.GaussianBlur(roi, (k, k), 0)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("encoding a blurred still failed")
    return buf.tobytes()


def _args(f: FrameCaptured, jpeg: bytes, ttl_s: int, blurred: bool) -> list[Any]:
    at = f["captured_at"]
    return [
        int(at.timestamp() * 1_000_000),
        jpeg,
        at.isoformat(),
        f["frame_seq"],
        f["width"],
        f["height"],
        ttl_s,
        "1" if blurred else "0",
    ]


def _newest(frames: Iterable[FrameCaptured]) -> dict[str, FrameCaptured]:
    latest: dict[str, FrameCaptured] = {}
    for f in frames:
        cur = latest.get(f["camera_id"])
        if cur is None or f["captured_at"] >= cur["captured_at"]:
            latest[f["camera_id"]] = f
    return latest


def write_snapshots(client: redis.Redis, frames: Iterable[FrameCaptured], ttl_s: int, *, blurred: bool = False) -> None:
    """Keep the newest still of each camera among `frames` as given (one pipelined round trip); `blurred` says
    whether they are safe to serve for a camera that blurs persons."""
    latest = _newest(frames)
    if not latest:
        return
    script: Any = client.register_script(_SET_IF_NEWER)
    pipe = client.pipeline(transaction=False)
    for cam, f in latest.items():
        script(keys=[snapshot_key(cam)], args=_args(f, f["image"], ttl_s, blurred), client=pipe)
    pipe.execute()


def blur_settings_from_pg(conn: psycopg.Connection[Any]) -> Callable[[list[str]], Mapping[str, bool]]:
    """blur_persons of cameras from the read model (config JSON; absent = true; a PostgreSQL error = all true)."""

    def blur_of(cams: list[str]) -> Mapping[str, bool]:
        try:
            rows = conn.execute(
                "SELECT camera_id, COALESCE((config->>'blur_persons')::boolean, true) FROM cameras"
                " WHERE camera_id = ANY(%s)",
                (cams,),
            ).fetchall()
            conn.commit()
        except psycopg.Error as e:
            log.warning("camera blur settings unavailable; blurring every still", extra={"error": str(e)})
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            return {}
        return {str(c): bool(b) for c, b in rows}

    return blur_of


def _blurred(f: FrameCaptured, jpeg: bytes, boxes: Boxes, size: tuple[int, int]) -> bytes | None:
    try:
        return blur_boxes(jpeg, boxes, size)
    except ValueError as e:
        log.warning("a still could not be blurred; not kept", extra={"camera_id": f["camera_id"], "error": str(e)})
        return None


def _frame_fields(f: FrameCaptured) -> dict[Any, Any]:
    return {
        "jpeg": f["image"],
        "captured_at": f["captured_at"].isoformat(),
        "frame_seq": f["frame_seq"],
        "width": f["width"],
        "height": f["height"],
    }


@dataclass
class StillBlurrer:
    """The projector's side of the stills: publish a camera's still only once it is blurred (or the camera does
    not blur). `blur_of(camera_ids)` answers each camera's blur_persons (True when unknown)."""

    client: redis.Redis
    ttl_s: int
    blur_of: Callable[[list[str]], Mapping[str, bool]]
    pending_ttl_s: int = PENDING_TTL_S
    _recent: dict[str, OrderedDict[int, tuple[Boxes, tuple[int, int]]]] = field(default_factory=dict)
    _blur_cache: dict[str, tuple[float, bool]] = field(default_factory=dict)
    _no_person_class: set[str] = field(default_factory=set)

    def blur_settings(self, cams: Iterable[str], max_age_s: float = 2.0) -> dict[str, bool]:
        now = time.monotonic()
        want = set(cams)
        stale = [c for c in want if c not in self._blur_cache or now - self._blur_cache[c][0] > max_age_s]
        if stale:
            got = self.blur_of(stale)
            for c in stale:
                self._blur_cache[c] = (now, got.get(c, True))
        return {c: self._blur_cache[c][1] for c in want}

    def forget(self, camera_id: str) -> None:
        self._recent.pop(camera_id, None)
        self._blur_cache.pop(camera_id, None)

    def handle(self, stills: list[FrameCaptured], detections: list[DetectionsProduced]) -> int:
        """Publish what can be published now; return how many stills were published."""
        latest = _newest(stills)
        if not latest and not detections:
            return 0
        blur = self.blur_settings([*latest, *(d["camera_id"] for d in detections)])
        for d in detections:
            if blur[d["camera_id"]] and PERSON_CLASS_NAME not in d["model"]["class_names"]:
                # inference does not look for persons (ITS_INFERENCE_CLASSES): no box could be blurred, so the
                # frame's still is never published (it expires pending)
                if d["camera_id"] not in self._no_person_class:
                    self._no_person_class.add(d["camera_id"])
                    log.warning(
                        "detections without the person class: this camera's stills are not served while it blurs "
                        "persons; keep 'person' in ITS_INFERENCE_CLASSES",
                        extra={"camera_id": d["camera_id"]},
                    )
                continue
            if blur[d["camera_id"]]:
                recent = self._recent.setdefault(d["camera_id"], OrderedDict())
                recent[d["frame_seq"]] = (person_boxes(d), (d["width"], d["height"]))
                while len(recent) > RECENT_FRAMES:
                    recent.popitem(last=False)
        script: Any = self.client.register_script(_SET_IF_NEWER)
        pipe = self.client.pipeline(transaction=False)
        published = 0
        for cam, f in latest.items():
            if not blur[cam]:
                script(keys=[snapshot_key(cam)], args=_args(f, f["image"], self.ttl_s, False), client=pipe)
                pipe.delete(pending_key(cam))
                published += 1
                continue
            kept = self._recent.get(cam)
            seen = kept.get(f["frame_seq"]) if kept is not None else None
            if seen is not None:
                jpeg = _blurred(f, f["image"], seen[0], seen[1])
                if jpeg is None:
                    continue
                script(keys=[snapshot_key(cam)], args=_args(f, jpeg, self.ttl_s, True), client=pipe)
                published += 1
            else:
                pipe.hset(pending_key(cam), mapping=_frame_fields(f))
                pipe.expire(pending_key(cam), self.pending_ttl_s)
        pipe.execute()
        return published + self._release_pending([d for d in detections if blur[d["camera_id"]]])

    def _release_pending(self, detections: list[DetectionsProduced]) -> int:
        """Stills parked earlier whose frame's detections are in this batch: blur and publish them."""
        by_cam = {d["camera_id"]: d for d in detections}  # one pending still per camera: check its seq
        if not by_cam:
            return 0
        cams = list(by_cam)
        pipe = self.client.pipeline(transaction=False)
        for cam in cams:
            pipe.hget(pending_key(cam), "frame_seq")
        seqs = pipe.execute()
        ready = [c for c, s in zip(cams, seqs, strict=True) if s is not None and self._recent_has(c, int(s))]
        if not ready:
            return 0
        script: Any = self.client.register_script(_SET_IF_NEWER)
        pipe = self.client.pipeline(transaction=False)
        for cam in ready:
            pipe.hgetall(pending_key(cam))
        parked = pipe.execute()
        pipe = self.client.pipeline(transaction=False)
        n = 0
        for cam, h in zip(ready, parked, strict=True):
            if not h:
                continue
            seq = int(h[b"frame_seq"])
            boxes, size = self._recent[cam][seq]
            f: FrameCaptured = {
                "camera_id": cam,
                "frame_seq": seq,
                "captured_at": datetime.fromisoformat(h[b"captured_at"].decode()),
                "source_pts_us": None,
                "width": int(h[b"width"]),
                "height": int(h[b"height"]),
                "encoding": "jpeg",
                "image": h[b"jpeg"],
                "source": "",
            }
            pipe.delete(pending_key(cam))
            jpeg = _blurred(f, f["image"], boxes, size)
            if jpeg is None:
                continue
            script(keys=[snapshot_key(cam)], args=_args(f, jpeg, self.ttl_s, True), client=pipe)
            n += 1
        pipe.execute()
        return n

    def _recent_has(self, cam: str, seq: int) -> bool:
        recent = self._recent.get(cam)
        return recent is not None and seq in recent
