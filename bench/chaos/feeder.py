"""The chaos run's ingest: replays the fixed frame set (frames.py) into the run's frames topic through the ingest
stage's own producer (idempotent, acks=all), paced over the run, the way a camera worker feeds it.

It is a process of its own (`python -m bench.chaos.feeder SPEC.json`) so the run can kill it with SIGKILL like any
stage. A restarted feeder looks at the tail of the frames topic, finds each camera's newest frame there and resumes
`overlap` frames before it: those frames reach the topic twice, as they would from a camera worker that restarts
and re-reads the last frames it had sent, and the pipeline must count them once (analytics skips a frame_seq it has
already applied). Each camera ends with the CameraStatusChanged the ingest worker sends when a source ends
(DISABLED, reason "ended"), which closes its open 1-minute window; its times come from the frames, not the clock.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition

from bench.chaos.frames import EPOCH, FrameSet
from bench.chaos.progress import QUIET
from eventbus.config import consumer_config
from schemas.errors import SchemaError
from schemas.events import CameraStatusChanged
from schemas.serde import codec
from streams.ingest.producer import FrameProducer

__all__ = ["FeedSpec", "feed", "tails"]


@dataclass(frozen=True)
class FeedSpec:
    bootstrap: str
    frames_topic: str
    status_topic: str
    t0: float  # wall time (time.time()) frame 0 is due; frame i is due at t0 + i * interval_s
    interval_s: float
    overlap: int  # frames re-sent before each camera's newest one after a restart

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @staticmethod
    def from_json(text: str) -> FeedSpec:
        return FeedSpec(**json.loads(text))


def tails(bootstrap: str, topic: str, look_back: int = 400, timeout_s: float = 30.0) -> dict[str, int]:
    """Newest frame_seq per camera in the last `look_back` records of each partition of `topic`."""
    c = Consumer(consumer_config(bootstrap, "chaos-feeder-tail", **{"enable.partition.eof": True}, **QUIET))
    try:
        parts = c.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        assign = []
        for p in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if hi > lo:
                assign.append(TopicPartition(topic, p, max(lo, hi - look_back)))
        if not assign:
            return {}
        c.assign(assign)
        left = {tp.partition for tp in assign}
        newest: dict[str, int] = {}
        decode = codec("FrameCaptured").decode
        deadline = time.monotonic() + timeout_s
        while left and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if (err := m.error()) is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    left.discard(m.partition() or 0)
                continue
            v = m.value()
            if v is None:
                continue
            try:
                ev = decode(v)
            except SchemaError:  # a poison record the run put there: not a frame
                continue
            newest[ev["camera_id"]] = max(newest.get(ev["camera_id"], -1), ev["frame_seq"])
        if left:
            raise TimeoutError(f"could not read the tail of {topic} at {bootstrap} within {timeout_s:.0f} s")
        return newest
    finally:
        c.close()


def _ended(fs: FrameSet, camera_id: str, last_seq: int) -> CameraStatusChanged:
    at = EPOCH + timedelta(microseconds=round(last_seq * 1_000_000 / fs.fps))
    return {
        "camera_id": camera_id,
        "status": "DISABLED",
        "previous": "ONLINE",
        "reason": "ended",
        "error": None,
        "changed_at": at,
        "last_frame_at": at,
        "measured_fps": fs.fps,
        "target_fps": fs.fps,
        "width": None,
        "height": None,
        "reconnects": 0,
        "frames_produced": last_seq + 1,
        "frames_dropped": 0,
        "worker": "chaos-feeder",
        "source": "",
    }


def feed(fs: FrameSet, spec: FeedSpec) -> int:
    """Produce every camera's frames from where the topic ends (less the overlap), paced; then each camera's
    "ended" status. Returns the number of frames produced by this process."""
    newest = tails(spec.bootstrap, spec.frames_topic)
    start = {c.camera_id: max(0, newest.get(c.camera_id, -1) + 1 - spec.overlap) for c in fs.cameras}
    if not newest:
        start = {c.camera_id: 0 for c in fs.cameras}
    prod = FrameProducer(spec.bootstrap, frames_topic=spec.frames_topic, message_timeout_ms=300_000)
    enc_frame, enc_status = codec("FrameCaptured").encode, codec("CameraStatusChanged").encode
    sent = 0
    for seq in range(min(start.values()), fs.frames):
        due = spec.t0 + seq * spec.interval_s
        if (wait := due - time.time()) > 0:
            time.sleep(wait)
        for cam in fs.cameras:
            if seq < start[cam.camera_id]:
                continue
            while not prod.send(spec.frames_topic, cam.camera_id, enc_frame(fs.event(cam, seq))):
                time.sleep(0.05)  # queue full (broker away): wait, never drop
            sent += 1
    for cam in fs.cameras:
        prod.send(spec.status_topic, cam.camera_id, enc_status(_ended(fs, cam.camera_id, fs.frames - 1)))
    left = prod.close(300)
    if left or prod.failed:
        raise RuntimeError(f"{left + prod.failed} frame(s) were not acknowledged by Kafka at {spec.bootstrap}.")
    return sent


def main(argv: list[str]) -> int:
    from bench.chaos.plan import load_plan

    plan = load_plan(Path(argv[0]))
    spec = FeedSpec.from_json(Path(argv[1]).read_text())
    n = feed(plan.frame_set(), spec)
    print(json.dumps({"frames_sent": n}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
