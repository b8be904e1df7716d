"""One camera runner against the real broker: drop-oldest between decoder and encoder, delivery errors surfaced,
graceful flush, per-camera metrics, capture time from the wall clock with the stream PTS alongside."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from prometheus_client import REGISTRY

from schemas import codec
from schemas.cameras import camera_config
from streams.ingest.camera import CameraRunner, RunnerContext
from streams.ingest.encoder import EncoderPool
from streams.ingest.producer import FrameProducer
from tests.kafka_helpers import read_all, wait_until

pytestmark = pytest.mark.integration


def metric_value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def topics(make_topic: Callable[..., str]) -> tuple[str, str]:
    """(frames, status) topics of one test."""
    return make_topic("frames", 1), make_topic("status", 1)


def _runner(
    topics: tuple[str, str],
    cam: str,
    source: Path,
    pool: EncoderPool,
    producer: FrameProducer,
    block: bool,
    **fields: object,
) -> CameraRunner:
    """A camera reading `source` once, as fast as it decodes (`block`: wait for the encoder instead of dropping)."""
    ctx = RunnerContext(producer, pool, *topics, "test-worker", once=True, block_when_busy=block)
    return CameraRunner(camera_config(cam, str(source), **fields), ctx)  # type: ignore[arg-type]


def test_a_busy_encoder_drops_the_oldest_frames_and_counts_them(
    bootstrap: str, topics: tuple[str, str], unique: str, small_clip: Path
) -> None:
    topic = topics[0]
    producer = FrameProducer(bootstrap, frames_topic=topic)
    pool = EncoderPool(0)  # nobody encodes: the reader must not wait, and must not queue more than its slot
    cam = f"busy-{unique}"
    r = _runner(topics, cam, small_clip, pool, producer, False, target_fps=10.0)
    r.start()
    wait_until(lambda: r.captured == 100, 30, "the reader to read the whole clip")
    assert r.dropped == 98  # 100 sampled; a slot of 2 kept, the 98 older ones dropped
    assert metric_value("its_ingest_frames_dropped_total", camera_id=cam, reason="oldest") == 98
    kept = [p.frame.t for p in r._pending]
    assert kept == sorted(kept) and kept[-1] > 9.8  # what is left is the newest
    r.stop()  # the 2 frames never encoded are dropped as well, and counted
    assert r.join(5) and r.dropped == 100
    assert metric_value("its_ingest_frames_dropped_total", camera_id=cam, reason="stopped") == 2
    producer.close(5)


def test_frames_carry_wall_clock_capture_time_pts_and_per_camera_metrics(
    bootstrap: str, topics: tuple[str, str], unique: str, small_clip: Path
) -> None:
    topic = topics[0]
    producer = FrameProducer(bootstrap, frames_topic=topic)
    pool = EncoderPool(1)
    cam = f"cam-{unique}"
    before = datetime.now(UTC)
    r = _runner(topics, cam, small_clip, pool, producer, True, target_fps=2.0, max_width=160, max_height=0)
    r.start()
    assert r.join(30)
    pool.close()
    assert producer.close(30) == 0
    frames = [codec("FrameCaptured").decode(m.value()) for m in read_all(bootstrap, topic, r.sent)]
    assert len(frames) == r.sent == 20  # 10 s at 2 fps
    assert [f["source_pts_us"] for f in frames] == [i * 500_000 for i in range(20)]  # stream time, kept alongside
    assert all(before <= f["captured_at"] <= datetime.now(UTC) + timedelta(seconds=1) for f in frames)
    assert {(f["width"], f["height"]) for f in frames} == {(160, 90)}  # the resize cap, aspect kept
    assert metric_value("its_ingest_frames_captured_total", camera_id=cam) == 20
    assert metric_value("its_ingest_frames_produced_total", camera_id=cam) == 20  # acknowledged by Kafka
    assert metric_value("its_ingest_frames_decoded_total", camera_id=cam) >= 20
    assert metric_value("its_ingest_decode_seconds_total", camera_id=cam) > 0
    assert metric_value("its_ingest_camera_status", camera_id=cam, its_ingest_camera_status="ONLINE") == 1


def test_delivery_errors_are_counted_and_logged(
    bootstrap: str, topics: tuple[str, str], unique: str, small_clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"test.tiny.{unique}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"max.message.bytes": "1024"})])[topic].result(30)
    try:
        producer = FrameProducer(bootstrap, frames_topic=topic)
        pool = EncoderPool(1)
        cam = f"big-{unique}"
        r = _runner((topic, topics[1]), cam, small_clip, pool, producer, True, target_fps=1.0)
        with caplog.at_level(logging.ERROR, logger="streams.ingest.producer"):
            r.start()
            assert r.join(30)
            pool.close()
            producer.close(30)
        assert producer.failed == r.sent == 10 and producer.delivered_frames == 0
        assert metric_value("its_ingest_delivery_errors_total", camera_id=cam, error="MSG_SIZE_TOO_LARGE") == 10
        logged = [rec for rec in caplog.records if "did not accept" in rec.getMessage()]
        assert len(logged) == 1 and getattr(logged[0], "camera_id", None) == cam  # once per camera, not per frame
    finally:
        admin.delete_topics([topic])[topic].result(30)
