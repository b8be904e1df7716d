"""Exactly-once on the real broker: `itscam inference` is killed with SIGKILL mid-stream and restarted; the
detections topic, read_committed, then holds exactly one DetectionsProduced per frame."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from confluent_kafka import Consumer, TopicPartition

from schemas import codec
from tests.inference.test_worker import _frame
from tests.kafka_helpers import produce, read_all, wait_until

pytestmark = pytest.mark.integration

N_CAMERAS, N_FRAMES = 4, 80  # 320 frames of 1280x720: several seconds of work for the worker


def _count(bootstrap: str, topic: str, isolation: str) -> int:
    """Messages in `topic` as a consumer with this isolation level sees them (end offsets, not contents)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "count", "isolation.level": isolation})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for p in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            total += hi - lo
        return total
    finally:
        c.close()


def _committed(bootstrap: str, topic: str) -> int:
    return len(read_all(bootstrap, topic, 10**9, timeout=1.0))


def _start(env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "itscam", "inference"], env=env, stdout=log, stderr=log)


def test_kill_9_mid_stream_and_restart_yields_exactly_one_detection_per_frame(
    bootstrap: str,
    make_topic: Callable[..., str],
    unique: str,
    test_image: Callable[[str], Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    frames, dets, dlq = make_topic("frames", 2), make_topic("dets", 2), make_topic("dlq", 1)
    jpeg = test_image("zidane.jpg").read_bytes()
    cams = [f"cam-{unique}-{i}" for i in range(N_CAMERAS)]
    produce(bootstrap, frames, [(c.encode(), _frame(c, seq, jpeg)) for seq in range(N_FRAMES) for c in cams])
    total = N_CAMERAS * N_FRAMES
    env = os.environ | {
        "ITS_KAFKA_BOOTSTRAP": bootstrap,
        "ITS_INFERENCE_FRAMES_TOPIC": frames,
        "ITS_INFERENCE_DETECTIONS_TOPIC": dets,
        "ITS_INFERENCE_DLQ_TOPIC": dlq,
        "ITS_INFERENCE_GROUP_ID": f"test-eos-{unique}",
        # the same id after the restart, as a StatefulSet pod keeps its name: the new producer fences the old one
        "ITS_INFERENCE_TRANSACTIONAL_ID": f"test-eos-{unique}",
        "ITS_INFERENCE_METRICS_PORT": "0",
        "ITS_INFERENCE_MAX_BATCH": "2",
    }
    log = (tmp_path / "inference.log").open("ab")
    request.addfinalizer(log.close)
    first = _start(env, log)
    try:
        wait_until(lambda: _committed(bootstrap, dets) >= 40, 120, "the first worker to commit 40 detections")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = _committed(bootstrap, dets)
    written_at_kill = _count(bootstrap, dets, "read_uncommitted")
    assert at_kill < total, "the worker finished before it was killed; make the stream longer"

    second = _start(env, log)
    try:
        wait_until(lambda: _committed(bootstrap, dets) >= total, 180, f"{total} committed detections after restart")
        time.sleep(3)  # anything duplicated would be committed by now
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    events = [codec("DetectionsProduced").decode(m.value()) for m in read_all(bootstrap, dets, total)]
    per_frame = Counter((e["camera_id"], e["frame_seq"]) for e in events)
    assert set(per_frame) == {(c, s) for c in cams for s in range(N_FRAMES)}, "frames lost"
    dupes = {k: n for k, n in per_frame.items() if n != 1}
    assert not dupes, f"duplicated detections: {list(dupes.items())[:5]}"
    assert _committed(bootstrap, dlq) == 0
    # For the record (-s): offsets past the committed records at the kill are the open transaction's records,
    # aborted by the restart, and transaction markers.
    print(f"committed at kill: {at_kill}; log end offsets at kill: {written_at_kill}")
