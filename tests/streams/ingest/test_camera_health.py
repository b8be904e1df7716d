"""Bad cameras next to a good one on the same ingest worker, and a camera that dies and comes back: each reports
a CameraStatusChanged with a clear error, nothing crashes, the good camera keeps its frame rate. Real Kafka."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eventbus.registry import put_camera
from schemas import codec
from schemas.cameras import camera_config
from streams.ingest.fleet import IngestFleet
from streams.ingest.settings import IngestSettings
from tests.conftest import CLIP
from tests.kafka_helpers import TopicTail, produce, read_all
from tests.servers import (
    BlackholeServer,
    GarbageServer,
    NotVideoServer,
    ResolutionChangeServer,
    RtspServer,
    refused_url,
)

pytestmark = pytest.mark.integration

GOOD_FPS = 2.0


class Worker:
    """An ingest worker (IngestFleet) on its own thread with fresh topics, and tails of what it produces."""

    def __init__(self, bootstrap: str, make_topic: Callable[..., str], unique: str, **settings: Any) -> None:
        self.bootstrap = bootstrap
        self.registry = make_topic("cameras", 3)
        frames, status = make_topic("frames", 3), make_topic("status", 3)
        self.fleet = IngestFleet(
            IngestSettings(
                kafka_bootstrap=bootstrap,
                cameras_topic=self.registry,
                frames_topic=frames,
                camera_status_topic=status,
                group_id=f"test-health-{unique}",
                metrics_port=0,
                **settings,
            )
        )
        self.frames = TopicTail(bootstrap, frames, codec("FrameCaptured").decode)
        self.status = TopicTail(bootstrap, status, codec("CameraStatusChanged").decode)
        self.thread = threading.Thread(target=self.fleet.run, daemon=True)
        self.thread.start()

    def add(self, camera_id: str, url: str, **fields: Any) -> None:
        put_camera(self.bootstrap, camera_config(camera_id, url, **fields), self.registry)

    def wait_status(self, camera_id: str, status: str, reason: str, timeout: float) -> dict[str, Any]:
        def found() -> bool:
            return any(s["status"] == status and s["reason"] == reason for s in self.status.values(camera_id))

        self.status.wait_for(found, timeout, f"{camera_id} {status}/{reason}; got {self.status.values(camera_id)}")
        return next(s for s in self.status.values(camera_id) if s["status"] == status and s["reason"] == reason)

    def frames_since(self, camera_id: str, t: float) -> int:
        return sum(1 for ts, k, _ in list(self.frames.items) if k == camera_id and ts >= t)

    def close(self) -> None:
        if not self.thread.is_alive() and self.frames._stop.is_set():
            return
        self.fleet.stop()
        self.thread.join(30)
        self.frames.close()
        self.status.close()


@pytest.fixture
def worker(bootstrap: str, make_topic: Callable[..., str], unique: str, small_clip: Path) -> Iterator[Worker]:
    w = Worker(bootstrap, make_topic, unique, open_timeout_s=2.0, read_timeout_s=2.0, backoff_max_s=4.0)
    w.add("good", str(small_clip), target_fps=GOOD_FPS, loop=True)
    w.wait_status("good", "ONLINE", "connected", 15)
    yield w
    w.close()
    assert not w.thread.is_alive()


def _bad_camera(worker: Worker, url: str, reason: str, words: str, **fields: Any) -> dict[str, Any]:
    """Add a bad camera; return its OFFLINE event after checking that the good camera kept its rate meanwhile."""
    t0 = time.monotonic()
    worker.add("bad", url, target_fps=5.0, **fields)
    event = worker.wait_status("bad", "OFFLINE", reason, 20)
    assert words.lower() in (event["error"] or "").lower(), event["error"]
    time.sleep(3.0)  # let it retry a couple of times
    took = time.monotonic() - t0
    assert worker.frames_since("good", t0) >= 0.8 * GOOD_FPS * took - 1  # the good camera did not notice
    assert worker.thread.is_alive()
    assert not worker.frames.values("bad")
    reasons = {s["reason"] for s in worker.status.values("bad")}
    assert reasons == {reason}, reasons  # retries do not repeat the event
    return event


def test_unreachable_host(worker: Worker) -> None:
    with BlackholeServer() as host:  # accepts no connection: SYNs are dropped, as for a host that is down
        _bad_camera(worker, host.url, "unreachable", "did not answer in time")


def test_refused_connection(worker: Worker) -> None:
    _bad_camera(worker, refused_url("rtsp"), "refused", "Connection refused")


def test_wrong_credentials(worker: Worker) -> None:
    with RtspServer(CLIP, user="operator", password="right-one") as cam:
        url = cam.url_with("operator", "wrong-one")
        event = _bad_camera(worker, url, "unauthorized", "check the user and password")
        assert "wrong-one" not in str(event) and event["source"].startswith("rtsp://***@127.0.0.1")


def test_url_that_is_not_video(worker: Worker) -> None:
    with NotVideoServer() as page:
        _bad_camera(worker, page.url, "not_video", "does not serve a video stream")


def test_stream_of_garbage_bytes(worker: Worker) -> None:
    with GarbageServer() as garbage:
        _bad_camera(worker, garbage.url, "not_video", "Invalid data found")


def test_resolution_change_mid_stream(worker: Worker) -> None:
    with ResolutionChangeServer(CLIP, realtime=True) as cam:
        worker.add("changing", cam.url, target_fps=5.0)
        event = worker.wait_status("changing", "ONLINE", "resolution_changed", 30)
    assert "640x360 to 320x180" in (event["error"] or "") and (event["width"], event["height"]) == (320, 180)

    def sizes() -> set[tuple[int, int]]:
        return {(f["width"], f["height"]) for f in worker.frames.values("changing")}

    # The status event is produced when the first frame at the new size is read, before that frame is encoded
    # and produced: on a loaded machine it reaches its topic first. Wait for the frame itself.
    worker.frames.wait_for(lambda: (320, 180) in sizes(), 15, "a frame at the new size, 320x180")
    assert {(640, 360), (320, 180)} <= sizes()
    assert worker.thread.is_alive() and worker.frames_since("good", 0) > 0


def test_rtsp_camera_killed_and_restarted(worker: Worker) -> None:
    with RtspServer(CLIP) as cam:
        worker.add("rtsp", cam.url, target_fps=5.0)
        online = worker.wait_status("rtsp", "ONLINE", "connected", 15)
        assert online["width"] == 1280 and online["worker"] == worker.fleet.s.worker_name
        worker.frames.wait_for(lambda: len(worker.frames.values("rtsp")) >= 5, 10, "frames from the RTSP camera")

        cam.kill()  # the camera dies mid-stream
        offline = worker.wait_status("rtsp", "OFFLINE", "ended", 10)
        assert offline["previous"] == "ONLINE" and offline["last_frame_at"] is not None
        time.sleep(1.0)  # it stays down for a moment; the worker keeps retrying (refused)

        cam.start()
        t_restart = time.monotonic()
        worker.frames.wait_for(lambda: worker.frames_since("rtsp", t_restart) > 0, 5, "frames within 5 s of restart")
        back = worker.wait_status("rtsp", "ONLINE", "recovered", 5)
    assert back["previous"] == "OFFLINE" and back["reconnects"] >= 1
    seqs = [f["frame_seq"] for f in worker.frames.values("rtsp")]
    assert seqs == sorted(set(seqs))  # frame_seq keeps increasing across the reconnect


def test_graceful_shutdown_flushes_every_frame(worker: Worker, bootstrap: str) -> None:
    time.sleep(3.0)
    runners = list(worker.fleet.runners.values())
    worker.close()  # what SIGTERM does: stop cameras, flush the producer, leave the group
    sent = sum(r.sent for r in runners)
    assert sent >= 6 and worker.fleet.producer.pending() == 0
    assert worker.fleet.producer.delivered_frames == sent and worker.fleet.producer.failed == 0
    on_topic = read_all(bootstrap, worker.fleet.s.frames_topic, sent, timeout=10)
    assert len(on_topic) == sent


def test_an_unreadable_registry_record_goes_to_the_dead_letter_topic(
    bootstrap: str, make_topic: Callable[..., str], unique: str, small_clip: Path
) -> None:
    dlq = make_topic("dlq", 1)
    w = Worker(bootstrap, make_topic, unique, dlq_topic=dlq)
    try:
        produce(bootstrap, w.registry, [(b"broken-cam", b'{"camera_id": "broken-cam"}')])  # JSON, not Avro
        w.add("good", str(small_clip), target_fps=GOOD_FPS, loop=True)
        w.wait_status("good", "ONLINE", "connected", 15)  # the worker carries on
        letter = codec("DeadLetter").decode(read_all(bootstrap, dlq, 1)[0].value())
    finally:
        w.close()
    assert letter["source_topic"] == w.registry and letter["key"] == b"broken-cam"
    assert letter["stage"] == "ingest-registry" and letter["value"] == b'{"camera_id": "broken-cam"}'
    assert "single-object" in letter["error"] and letter["source_offset"] == 0
