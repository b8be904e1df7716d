"""The inference worker against the real Kafka broker and the real YOLO11n ONNX model."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY

from inference import Detector, DetectorPool, InferenceSettings
from inference.backends import OnnxRuntimeBackend
from inference.worker import InferenceWorker
from schemas import codec
from schemas.events import FrameCaptured
from tests.conftest import MODEL
from tests.kafka_helpers import produce, read_all

pytestmark = pytest.mark.integration


def _frame(camera: str, seq: int, image: bytes, w: int = 1280, h: int = 720) -> bytes:
    ev: FrameCaptured = {
        "camera_id": camera,
        "frame_seq": seq,
        "captured_at": datetime.now(UTC),
        "source_pts_us": None,
        "width": w,
        "height": h,
        "encoding": "jpeg",
        "image": image,
        "source": "test",
    }
    return codec("FrameCaptured").encode(ev)


def _settings(bootstrap: str, frames: str, dets: str, dlq: str, unique: str, **extra: Any) -> InferenceSettings:
    """An inference worker on this test's own topics and consumer group, metrics off."""
    return InferenceSettings(
        kafka_bootstrap=bootstrap,
        frames_topic=frames,
        detections_topic=dets,
        dlq_topic=dlq,
        group_id=f"test-inf-{unique}",
        metrics_port=0,
        **extra,
    )


def _run_worker(bootstrap: str, frames: str, dets: str, dlq: str, unique: str) -> InferenceWorker:
    s = _settings(bootstrap, frames, dets, dlq, unique, max_batch=4)
    worker = InferenceWorker(s, DetectorPool([Detector(OnnxRuntimeBackend(str(MODEL), threads=1)) for _ in range(2)]))
    t = threading.Thread(target=worker.run, kwargs={"idle_exit_s": 4.0})
    t.start()
    t.join(120)
    assert not t.is_alive(), "worker did not go idle"
    return worker


def test_poison_messages_go_to_dlq_with_coordinates_and_inference_carries_on(
    bootstrap: str, make_topic: Callable[..., str], unique: str, test_image: Callable[[str], Path]
) -> None:
    frames, dets, dlq = make_topic("frames", 1), make_topic("dets", 1), make_topic("dlq", 1)
    jpeg = test_image("zidane.jpg").read_bytes()
    cam = f"cam-{unique}".encode()
    produce(
        bootstrap,
        frames,
        [
            (cam, _frame(cam.decode(), 0, jpeg)),  # offset 0: good
            (cam, b"\x00\x01 definitely not avro"),  # offset 1: undecodable Avro
            (cam, _frame(cam.decode(), 1, b"\xff\xd8corrupt")),  # offset 2: corrupt JPEG
            (cam, _frame(cam.decode(), 2, jpeg)),  # offset 3: good, after the poison
        ],
    )

    def person_boxes() -> float:
        return REGISTRY.get_sample_value("its_inference_detections_total", {"class_name": "person"}) or 0.0

    boxes_before = person_boxes()
    _run_worker(bootstrap, frames, dets, dlq, unique)

    out = [codec("DetectionsProduced").decode(m.value()) for m in read_all(bootstrap, dets, 2)]
    assert [e["frame_seq"] for e in out] == [0, 2]
    # The drift alert's numerator counts exactly the boxes produced.
    produced = sum(d["class_name"] == "person" for e in out for d in e["detections"])
    assert person_boxes() - boxes_before == produced
    assert all(m.key() == cam for m in read_all(bootstrap, dets, 2))
    persons = [d for d in out[1]["detections"] if d["class_name"] == "person"]
    assert len(persons) >= 2
    assert out[0]["model"]["sha256"] == "24d7c887c9a6dade3bfe7654c1df21c6b1c30b618b51cc05a35ee350dcf1be71"
    assert (out[0]["width"], out[0]["height"]) == (1280, 720)

    letters = [(m.key(), codec("DeadLetter").decode(m.value())) for m in read_all(bootstrap, dlq, 2)]
    assert len(letters) == 2
    by_offset = {dl["source_offset"]: (k, dl) for k, dl in letters}
    assert set(by_offset) == {1, 2}
    k1, avro = by_offset[1]
    assert (avro["source_topic"], avro["source_partition"], avro["error_type"]) == (frames, 0, "avro-decode")
    assert avro["value"] == b"\x00\x01 definitely not avro" and k1 == cam
    assert "single-object" in avro["error"] and avro["stage"] == "inference"
    _, bad_jpeg = by_offset[2]
    assert bad_jpeg["error_type"] == "jpeg-decode" and "JPEG" in bad_jpeg["error"]


def test_restart_resumes_after_committed_offsets_without_duplicates(
    bootstrap: str, make_topic: Callable[..., str], unique: str
) -> None:
    frames, dets, dlq = make_topic("frames", 2), make_topic("dets", 2), make_topic("dlq", 1)
    img = np.full((240, 320, 3), 90, np.uint8)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    produce(bootstrap, frames, [(f"c{i % 3}".encode(), _frame(f"c{i % 3}", i, jpeg, 320, 240)) for i in range(10)])
    _run_worker(bootstrap, frames, dets, dlq, unique)
    produce(bootstrap, frames, [(b"c0", _frame("c0", 100 + i, jpeg, 320, 240)) for i in range(5)])
    _run_worker(bootstrap, frames, dets, dlq, unique)
    seqs = sorted(codec("DetectionsProduced").decode(m.value())["frame_seq"] for m in read_all(bootstrap, dets, 15))
    assert seqs == [*range(10), *range(100, 105)]


def test_a_second_worker_joining_midway_loses_and_duplicates_nothing(
    bootstrap: str, make_topic: Callable[..., str], unique: str
) -> None:
    frames, dets, dlq = make_topic("frames", 4), make_topic("dets", 4), make_topic("dlq", 1)
    jpeg = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()
    cams = [f"c{i}" for i in range(8)]
    produce(bootstrap, frames, [(c.encode(), _frame(c, i, jpeg, 320, 240)) for i in range(25) for c in cams])

    def start() -> tuple[InferenceWorker, threading.Thread]:
        # Two instances in one process: each needs its own transactional.id (the default has the pid in it).
        s = _settings(
            bootstrap,
            frames,
            dets,
            dlq,
            unique,
            max_batch=2,
            transactional_id=f"test-inf-{unique}-{time.monotonic_ns()}",
        )
        w = InferenceWorker(s, DetectorPool([Detector(OnnxRuntimeBackend(str(MODEL), threads=1))]))
        t = threading.Thread(target=w.run, kwargs={"idle_exit_s": 6.0})
        t.start()
        return w, t

    first, t1 = start()
    time.sleep(2.5)  # let the first worker commit some batches, then make the group rebalance
    _, t2 = start()
    for t in (t1, t2):
        t.join(180)
        assert not t.is_alive()
    assert first.revocations >= 1, "the group never rebalanced; the test proved nothing"
    out = [codec("DetectionsProduced").decode(m.value()) for m in read_all(bootstrap, dets, 200)]
    got = sorted((e["camera_id"], e["frame_seq"]) for e in out)
    assert got == sorted((c, i) for c in cams for i in range(25))  # exactly once each


def test_every_kind_of_bad_frame_is_a_dead_letter_with_its_reason_fake_raising_backend(
    bootstrap: str, make_topic: Callable[..., str], unique: str, test_image: Callable[[str], Path]
) -> None:
    """Real broker and real model; the backend is wrapped to raise on white frames (a model that fails on a
    particular input cannot be made on demand)."""
    from inference import FrameLimits
    from tests.inference.test_pool import _RaisesOnWhiteFrames, _zero_size_jpeg

    frames, dets, dlq = make_topic("frames", 1), make_topic("dets", 1), make_topic("dlq", 1)
    zidane = test_image("zidane.jpg").read_bytes()
    white = cv2.imencode(".jpg", np.full((720, 1280, 3), 255, np.uint8))[1].tobytes()
    huge = cv2.imencode(".jpg", np.zeros((1200, 1000, 3), np.uint8))[1].tobytes()
    unknown = codec("FrameCaptured").encode(
        {**codec("FrameCaptured").decode(_frame("c", 3, zidane)), "encoding": "h264"}
    )
    cam = f"cam-{unique}".encode()
    produce(
        bootstrap,
        frames,
        [
            (cam, _frame(cam.decode(), 0, zidane)),  # offset 0: good
            (cam, _frame(cam.decode(), 1, b"\xff\xd8\xff\xe0corrupt")),  # 1: corrupt JPEG
            (cam, _frame(cam.decode(), 2, b"")),  # 2: zero bytes
            (cam, _frame(cam.decode(), 3, _zero_size_jpeg())),  # 3: a 0x0 JPEG
            (cam, _frame(cam.decode(), 4, huge)),  # 4: above the 1,000,000-pixel limit below
            (cam, unknown),  # 5: encoding h264
            (cam, _frame(cam.decode(), 6, white)),  # 6: the model raises on it
            (cam, _frame(cam.decode(), 7, zidane)),  # 7: good, after all of them
        ],
    )
    s = _settings(bootstrap, frames, dets, dlq, unique, max_batch=8)
    pool = DetectorPool([Detector(_RaisesOnWhiteFrames())], limits=FrameLimits(max_pixels=1_000_000))  # type: ignore[arg-type]
    worker = InferenceWorker(s, pool)
    t = threading.Thread(target=worker.run, kwargs={"idle_exit_s": 4.0})
    t.start()
    t.join(120)
    assert not t.is_alive()

    out = [codec("DetectionsProduced").decode(m.value()) for m in read_all(bootstrap, dets, 2)]
    assert [e["frame_seq"] for e in out] == [0, 7]
    assert len([d for d in out[1]["detections"] if d["class_name"] == "person"]) >= 2
    letters = {
        dl["source_offset"]: dl for dl in (codec("DeadLetter").decode(m.value()) for m in read_all(bootstrap, dlq, 6))
    }
    reasons = {off: dl["error_type"] for off, dl in letters.items()}
    assert reasons == {
        1: "jpeg-decode",
        2: "empty-image",
        3: "empty-image",
        4: "image-too-large",
        5: "unsupported-encoding",
        6: "model-error",
    }
    for dl in letters.values():
        assert (dl["source_topic"], dl["source_partition"], dl["stage"]) == (frames, 0, "inference")
        assert dl["value"] and dl["key"] == cam
    assert "ITS_INFERENCE_MAX_IMAGE_PIXELS" in letters[4]["error"] and "'h264'" in letters[5]["error"]


def test_events_carry_model_identity_and_stage_timings(
    bootstrap: str, make_topic: Callable[..., str], unique: str, test_image: Callable[[str], Path]
) -> None:
    frames, dets, dlq = make_topic("frames", 1), make_topic("dets", 1), make_topic("dlq", 1)
    jpeg = test_image("zidane.jpg").read_bytes()
    produce(bootstrap, frames, [(b"c1", _frame("c1", i, jpeg)) for i in range(6)])
    s = _settings(bootstrap, frames, dets, dlq, unique, workers=2, threads=1)  # default classes: traffic
    worker = InferenceWorker(s, DetectorPool.from_settings(s))
    t = threading.Thread(target=worker.run, kwargs={"idle_exit_s": 4.0})
    t.start()
    t.join(120)
    assert not t.is_alive()
    events = [codec("DetectionsProduced").decode(m.value()) for m in read_all(bootstrap, dets, 6)]
    assert len(events) == 6
    e = events[-1]
    assert e["model"]["version"] == e["model"]["sha256"][:12] and e["model"]["precision"] == "fp32"
    assert e["model"]["class_names"] == ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
    assert {d["class_name"] for ev in events for d in ev["detections"]} <= set(e["model"]["class_names"])
    # boxes from 0.1 (the tracker's low tier) are emitted, marked by report_confidence = ITS_INFERENCE_CONF
    assert e["report_confidence"] == pytest.approx(s.conf) == 0.25
    assert min(d["confidence"] for d in e["detections"]) > s.low_conf == pytest.approx(0.1)
    t = e["timings"]
    assert t["decode_ms"] > 0 and t["inference_ms"] > 0 and t["batch_size"] >= 1
    assert t["queued_ms"] >= 0 and t["total_ms"] >= t["queued_ms"]
    assert t["total_ms"] == pytest.approx((e["produced_at"] - e["captured_at"]).total_seconds() * 1000, abs=1.0)


def test_frames_that_expired_before_inference_read_them_are_counted_and_the_rest_carry_their_run(
    bootstrap: str, make_topic: Callable[..., str], unique: str
) -> None:
    """Inference fell behind past the frames topic's retention: the broker deleted frames at its committed position
    (delete_records stands in for retention, same log-start move); the worker is reset to the log start, counts
    what it never read, and passes each surviving frame's run numbers on to analytics."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    frames, dets, dlq = make_topic("frames", 1), make_topic("dets", 1), make_topic("dlq", 1)
    jpeg = cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1].tobytes()

    def numbered(i: int) -> bytes:
        ev = codec("FrameCaptured").decode(_frame("c1", 1000 + i, jpeg, 320, 240))
        return codec("FrameCaptured").encode({**ev, "run_start_seq": 1000, "run_index": i})

    produce(bootstrap, frames, [(b"c1", numbered(i)) for i in range(10)])
    group = f"test-inf-{unique}"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(frames, 0, 2)], asynchronous=False)  # frames 0-1 were processed
    c.close()
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept: its futures resolve only while it lives
    deleted = admin.delete_records([TopicPartition(frames, 0, 6)], request_timeout=30)
    # retention took frames 2-5 before inference came back
    assert next(iter(deleted.values())).result(timeout=60).low_watermark == 6

    def expired() -> float:
        return REGISTRY.get_sample_value("its_inference_frames_expired_total", {"partition": "0"}) or 0.0

    before = expired()
    _run_worker(bootstrap, frames, dets, dlq, unique)
    assert expired() - before == 4
    assert REGISTRY.get_sample_value("its_inference_lag_seconds", {"partition": "0"}) == 0  # caught up
    out = [codec("DetectionsProduced").decode(m.value()) for m in read_all(bootstrap, dets, 4)]
    assert [(e["frame_seq"], e["run_start_seq"], e["run_index"]) for e in out] == [
        (1000 + i, 1000, i) for i in range(6, 10)
    ]


def test_a_low_tier_above_the_reported_confidence_is_refused_naming_both_settings() -> None:
    with pytest.raises(ValueError, match=r"ITS_INFERENCE_LOW_CONF=0\.5 is above ITS_INFERENCE_CONF=0\.25"):
        InferenceSettings(low_conf=0.5)
