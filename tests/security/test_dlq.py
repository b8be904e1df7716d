"""Dead letters always fit, and bad values go to them instead of into the analytics state.

- A value too large for the dead-letter topic is kept truncated, with its original size and SHA-256: the broker
  accepts the dead letter (where the whole value is refused, so the stage would retry it for ever).
- The real analytics worker, sent a frame 0 pixels wide, NaN / inverted / far-off boxes and an oversized poison
  payload between good frames, dead-letters each with its coordinates and counts every vehicle of the good ones.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from eventbus.config import producer_config
from eventbus.registry import put_camera
from schemas import codec
from schemas.dlq import DLQ_HEADROOM_BYTES, MAX_ERROR_CHARS, dead_letter, max_value_bytes
from schemas.topics import DLQ, FRAMES
from streams.analytics.validate import bad_value
from tests.kafka_helpers import read_all
from tests.streams.analytics.factories import line_camera, traffic
from tests.streams.analytics.test_app import Analytics, _cars, _reference, analytics, worker  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(bootstrap: str) -> Iterator[tuple[str, str]]:
    """A source topic configured like its.frames.v1 and a dead-letter topic configured like its.dlq.v1."""
    run = uuid.uuid4().hex[:10]
    src, dlq = f"test.dlq.src.{run}", f"test.dlq.{run}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(src, 1, 1, config=FRAMES.extra_config), NewTopic(dlq, 1, 1, config=DLQ.extra_config)]
    for f in admin.create_topics(new).values():
        f.result(30)
    yield src, dlq
    for f in admin.delete_topics([src, dlq]).values():
        f.result(30)


def _consume_one(bootstrap: str, topic: str) -> Any:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-dlq-{uuid.uuid4().hex[:8]}",
            "fetch.message.max.bytes": 10 * 1024 * 1024,
            "max.partition.fetch.bytes": 10 * 1024 * 1024,
        }
    )
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        for _ in range(60):
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                return m
        raise AssertionError(f"nothing on {topic}")
    finally:
        c.close()


def _send(bootstrap: str, topic: str, key: bytes, value: bytes) -> str | None:
    """Produce one record; the delivery error, if the broker refused it."""
    errors: list[Any] = []
    p = Producer(producer_config(bootstrap))
    p.produce(topic, key=key, value=value, on_delivery=lambda err, _m: errors.append(err))
    assert p.flush(60) == 0
    return None if errors[0] is None else str(errors[0])


def test_an_oversized_value_is_dead_lettered_truncated_with_its_size_and_hash(
    bootstrap: str, topics: tuple[str, str]
) -> None:
    src, dlq = topics
    # About the largest value the frames topic takes (incompressible): a dead letter carrying it whole, with its
    # key and error text, cannot fit the DLQ topic, configured alike.
    original = os.urandom(8 * 1024 * 1024 - 300)
    assert _send(bootstrap, src, b"cam-1", original) is None
    msg = _consume_one(bootstrap, src)
    assert msg.value() == original

    whole = dead_letter(msg, "test", "too-big", "e" * 1000, max_value=len(original))
    refused = _send(bootstrap, dlq, b"cam-1", whole)
    assert refused is not None and "too large" in refused.lower()  # without truncation the stage would loop

    letter = dead_letter(msg, "test", "too-big", ValueError("x" * 100_000))
    assert len(letter) <= int(DLQ.extra_config["max.message.bytes"]) - DLQ_HEADROOM_BYTES // 2
    assert _send(bootstrap, dlq, b"cam-1", letter) is None  # accepted: written once, never retried
    got = codec("DeadLetter").decode(_consume_one(bootstrap, dlq).value())
    assert got["value_truncated"] is True
    assert got["value"] == original[: max_value_bytes()] and len(got["value"]) < len(original)
    assert got["value_size"] == len(original)
    assert got["value_sha256"] == hashlib.sha256(original).hexdigest()
    assert (got["source_topic"], got["source_partition"], got["source_offset"]) == (src, 0, 0)
    assert len(got["error"]) == MAX_ERROR_CHARS


def test_a_small_value_is_kept_whole_with_its_hash(bootstrap: str, topics: tuple[str, str]) -> None:
    src, _ = topics
    assert _send(bootstrap, src, b"k", b"poison") is None
    got = codec("DeadLetter").decode(dead_letter(_consume_one(bootstrap, src), "test", "bad", "why"))
    assert (got["value"], got["value_truncated"], got["value_size"]) == (b"poison", False, 6)
    assert got["value_sha256"] == hashlib.sha256(b"poison").hexdigest()


def test_a_dead_letter_written_before_the_size_and_hash_fields_still_reads() -> None:
    from schemas.serde import Codec, history_files

    old = Codec("DeadLetter", history_files()["DeadLetter"][0])
    rec = {k: v for k, v in codec("DeadLetter").decode(dead_letter(_Rec(), "s", "e", "x")).items() if "value_" not in k}
    back = codec("DeadLetter").decode(old.encode(rec))
    assert (back["value"], back["value_size"], back["value_sha256"], back["value_truncated"]) == (
        b"v",
        None,
        None,
        False,
    )


class _Rec:
    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 7

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"v"


def test_bad_values_are_named() -> None:
    ev = traffic("c", _cars(1, 10, 0), 10)[9]
    assert ev["detections"] and bad_value(ev) is None
    cases: list[tuple[dict[str, Any], str]] = [
        ({"width": 0}, "frame size"),
        ({"height": -5}, "frame size"),
        ({"x1": math.nan}, "finite"),
        ({"y2": math.inf}, "finite"),
        ({"confidence": math.nan}, "finite"),
        ({"x1": 500.0, "x2": 400.0}, "inverted"),
        ({"x1": -1e6}, "far outside"),
        ({"confidence": 7.0}, "confidence"),
    ]
    for change, why in cases:
        bad: Any = {**ev, "detections": [dict(d) for d in ev["detections"]]}
        for k, v in change.items():
            if k in ("width", "height"):
                bad[k] = v
            else:
                bad["detections"][0][k] = v
        reason = bad_value(bad)
        assert reason is not None and why in reason, (change, reason)


def test_the_analytics_worker_dead_letters_bad_values_and_keeps_counting(
    analytics: Analytics,  # noqa: F811
    worker: Callable[[], subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    b, t = analytics.bootstrap, analytics.topics
    # A dead-letter topic that refuses records over 256 KiB, and the stage told so.
    limit = 256 * 1024
    admin = AdminClient({"bootstrap.servers": b})
    entry = ConfigEntry("max.message.bytes", str(limit), incremental_operation=AlterConfigOpType.SET)
    for f in admin.incremental_alter_configs([ConfigResource("TOPIC", t["dlq"], incremental_configs=[entry])]).values():
        f.result(30)
    analytics.env["ITS_DLQ_MAX_MESSAGE_BYTES"] = str(limit)

    good = line_camera("good")
    put_camera(b, good, topic=t["cams"])
    clean = traffic("good", _cars(4, 20, 0), 120)
    with_boxes = [i for i, r in enumerate(clean) if r["detections"]]

    def spoiled(i: int, frame: dict[str, Any] | None = None, box: dict[str, Any] | None = None) -> Any:
        r: Any = {**clean[i], **(frame or {}), "detections": [dict(d) for d in clean[i]["detections"]]}
        if box:
            r["detections"][0].update(box)
        return r

    bad = {
        with_boxes[5]: spoiled(with_boxes[5], frame={"width": 0}),
        with_boxes[15]: spoiled(with_boxes[15], box={"x1": math.nan}),
        with_boxes[25]: spoiled(with_boxes[25], box={"x1": 900.0, "x2": 100.0}),
        with_boxes[35]: spoiled(with_boxes[35], box={"x1": -1e7, "y1": -1e7}),
    }
    enc = codec("DetectionsProduced")
    poison = b"\x00not avro" + os.urandom(600_000)  # over the dead-letter limit
    items: list[tuple[bytes, bytes]] = []
    for i, r in enumerate(clean):
        if i in bad:  # the spoiled copy first, the good frame right after it
            items.append((b"good", enc.encode(bad[i])))
        if i == 50:
            items.append((b"good", poison))
        items.append((b"good", enc.encode(r)))

    worker()
    p = Producer(producer_config(b))
    for key, value in items:
        p.produce(t["det"], key=key, value=value, partition=0)
    assert p.flush(30) == 0

    want = sorted(rec["event_id"] for kind, rec in _reference(clean, {"good": good}) if kind == "vehicle")
    got = analytics.committed("veh", expect=len(want), timeout=120)
    assert sorted(e["event_id"] for e in got) == want and len(want) == 4  # every good frame counted

    letters = [codec("DeadLetter").decode(m.value()) for m in analytics.committed("dlq", expect=5, timeout=60)]
    assert sorted(x["error_type"] for x in letters) == ["bad-payload", *["bad-value"] * 4]  # each once, no loop
    sent = {off: v for off, (_k, v) in enumerate(items)}
    for x in letters:
        assert (x["source_topic"], x["source_partition"]) == (t["det"], 0)
        original = sent[x["source_offset"]]  # the coordinates point at the record that was refused
        assert x["value_sha256"] == hashlib.sha256(original).hexdigest() and x["value_size"] == len(original)
    payload = next(x for x in letters if x["error_type"] == "bad-payload")
    assert payload["value_truncated"] and len(payload["value"]) == limit - DLQ_HEADROOM_BYTES
    reasons = " | ".join(x["error"] for x in letters if x["error_type"] == "bad-value")
    for why in ("frame size 0x720", "not a finite number", "inverted", "far outside"):
        assert why in reasons, reasons
    assert len(read_all(b, t["dlq"], 10, timeout=3)) == 5  # and nothing more: no dead letter written twice
