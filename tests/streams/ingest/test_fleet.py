"""Cameras split across ingest workers by Kafka partition assignment: two real worker processes, the real broker."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from schemas import codec
from schemas.cameras import camera_config
from tests.kafka_helpers import TopicTail, wait_until

pytestmark = pytest.mark.integration

N_CAMERAS = 12  # one per partition of the test registry, so a 6/6 partition split is a 6/6 camera split
_STATE = re.compile(r'^its_ingest_camera_status\{camera_id="([^"]+)",its_ingest_camera_status="(\w+)"\} 1\.0$', re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Worker:
    """`itscam ingest` (fleet mode) as its own process, with its own metrics port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = _free_port()
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "itscam", "ingest", "--metrics-port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def cameras(self) -> dict[str, str]:
        """camera id -> status, from the worker's /metrics (a worker lists only the cameras it reads)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return {}
        return dict(_STATE.findall(text))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


@pytest.fixture
def fleet_env(bootstrap: str, make_topic: Callable[..., str], unique: str) -> dict[str, str]:
    return {
        **os.environ,
        "ITS_KAFKA_BOOTSTRAP": bootstrap,
        "ITS_INGEST_CAMERAS_TOPIC": make_topic("cameras", N_CAMERAS),
        "ITS_INGEST_FRAMES_TOPIC": make_topic("frames", 12),
        "ITS_INGEST_CAMERA_STATUS_TOPIC": make_topic("status", 12),
        "ITS_INGEST_GROUP_ID": f"test-ingest-{unique}",
        "ITS_INGEST_ENCODER_THREADS": "1",
    }


@pytest.fixture
def workers(fleet_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Worker]]:
    started: list[Worker] = []

    def start() -> Worker:
        w = Worker(fleet_env, tmp_path / f"worker{len(started)}.log")
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def test_cameras_split_follow_changes_and_move_back(
    bootstrap: str, fleet_env: dict[str, str], workers: Callable[[], Worker], small_clip: Path
) -> None:
    registry = fleet_env["ITS_INGEST_CAMERAS_TOPIC"]
    producer = Producer({"bootstrap.servers": bootstrap})
    cfg_codec = codec("CameraConfig")

    def put(i: int, **fields: Any) -> None:
        cfg = camera_config(f"cam-{i:02d}", str(small_clip), target_fps=2.0, loop=True, **fields)
        producer.produce(registry, key=cfg["camera_id"].encode(), value=cfg_codec.encode(cfg), partition=i)
        assert producer.flush(10) == 0

    def tombstone(i: int) -> None:
        producer.produce(registry, key=f"cam-{i:02d}".encode(), value=None, partition=i)
        assert producer.flush(10) == 0

    for i in range(N_CAMERAS - 1):  # cam-11 is added later
        put(i)
    everyone = {f"cam-{i:02d}" for i in range(N_CAMERAS - 1)}

    with (
        TopicTail(bootstrap, fleet_env["ITS_INGEST_FRAMES_TOPIC"], codec("FrameCaptured").decode) as frames,
        TopicTail(
            bootstrap, fleet_env["ITS_INGEST_CAMERA_STATUS_TOPIC"], codec("CameraStatusChanged").decode
        ) as status,
    ):
        a = workers()
        wait_until(lambda: set(a.cameras()) == everyone, 30, "worker A to read every camera")
        frames.wait_for(lambda: {f["camera_id"] for f in frames.values()} == everyone, 15, "frames of every camera")

        # 1. a second worker takes about half of the cameras (exactly the cameras of the partitions it is given)
        b = workers()
        wait_until(
            lambda: len(b.cameras()) >= 4 and not set(a.cameras()) & set(b.cameras()),
            30,
            "worker B to take cameras over",
        )
        wait_until(lambda: set(a.cameras()) | set(b.cameras()) == everyone, 15, "A and B to cover every camera")
        share_b = len(b.cameras())
        assert 4 <= share_b <= 7, (a.cameras(), b.cameras())  # 5 or 6 of 11 with a 6/6 partition split
        moved = sorted(b.cameras())
        t_moved = time.monotonic()
        frames.wait_for(
            lambda: all(any(t > t_moved for t, k, _ in frames.items if k == c) for c in moved),
            10,
            "frames of the moved cameras from worker B",
        )
        assert all(any(s["worker"].endswith(f":{b.proc.pid}") for s in status.values(c)) for c in moved)

        # 2. a removed camera stops within 5 s (on whichever worker reads it), and says so
        gone = moved[0]
        tombstone(int(gone[-2:]))
        t0 = time.monotonic()
        wait_until(lambda: gone not in a.cameras() and gone not in b.cameras(), 5, f"{gone} to stop after removal")
        time.sleep(1.0)  # frames already in flight at the stop have arrived by now
        last = max(t for t, k, _ in frames.items if k == gone)
        assert last - t0 < 5.0
        assert [s["reason"] for s in status.values(gone) if s["status"] == "DISABLED"] == ["removed"]

        # 3. a disabled camera stops within 5 s
        off = sorted(a.cameras())[0]
        put(int(off[-2:]), enabled=False)
        t0 = time.monotonic()
        wait_until(lambda: off not in a.cameras() and off not in b.cameras(), 5, f"{off} to stop after disabling")
        assert [s["reason"] for s in status.values(off) if s["status"] == "DISABLED"] == ["disabled"]

        # 4. a new camera starts within 5 s: its first frame is on the topic
        t0 = time.monotonic()
        put(11)
        took = frames.wait_for(lambda: bool(frames.values("cam-11")), 5, "the first frame of the new camera cam-11")
        assert took < 5.0

        # 5. stopping worker B moves its cameras back to A
        running = everyone - {gone, off} | {"cam-11"}
        b.stop()
        wait_until(lambda: set(a.cameras()) == running, 15, "worker A to take every running camera back")
        t_back = time.monotonic()
        frames.wait_for(
            lambda: all(any(t > t_back for t, k, _ in frames.items if k == c) for c in running),
            10,
            "frames of every running camera from worker A",
        )
        assert b.proc.returncode == 0

    # frame_seq stays strictly increasing per camera, across the move to B and back
    for cam in running:
        seqs = [f["frame_seq"] for f in frames.values(cam)]
        assert seqs == sorted(set(seqs)), cam
