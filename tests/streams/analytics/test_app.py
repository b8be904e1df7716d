"""The analytics deployable on the real broker: `itscam analytics` as a process over fresh topics.

Exactly-once across kill -9, bad input to the dead-letter topic, a camera reconfigured mid-stream, camera status,
and the co-partitioning check. Expected events come from the same logic run in-process on the same records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from eventbus.registry import put_camera, remove_camera
from schemas import codec
from schemas.events import CameraConfig, DetectionsProduced
from streams.analytics import AnalyticsSettings, CameraAnalytics
from streams.analytics.app import check_copartitioning
from streams.analytics.errors import CoPartitioningError
from tests.kafka_helpers import produce, read_all, wait_until
from tests.streams.analytics.factories import T0, Car, camera_status, line_camera, traffic

pytestmark = pytest.mark.integration

CARS = 120  # per camera in the interrupted runs

_KINDS = ("det", "status", "veh", "stats", "inc", "mov", "cams", "dlq")


@dataclass
class Analytics:
    bootstrap: str
    topics: dict[str, str]
    env: dict[str, str]
    log: Path

    def start(self, fake_race: str | None = None) -> subprocess.Popen[bytes]:
        """`itscam analytics`, or with `fake_race` a mode of tests/streams/analytics/faust_races.py."""
        argv = [sys.executable, "-m", "itscam", "analytics"]
        if fake_race:
            argv = [sys.executable, "-m", "tests.streams.analytics.faust_races", fake_race]
        with self.log.open("ab") as out:
            return subprocess.Popen(argv, env=self.env, stdout=out, stderr=out)

    def send(self, records: list[DetectionsProduced]) -> None:
        enc = codec("DetectionsProduced")
        produce(self.bootstrap, self.topics["det"], [(r["camera_id"].encode(), enc.encode(r)) for r in records])

    def committed(self, kind: str, expect: int = 10**9, timeout: float = 1.0) -> list[Any]:
        schema = {
            "veh": "VehicleCounted",
            "stats": "TrafficStatsWindow",
            "inc": "IncidentDetected",
            "mov": "TurningMovement",
        }.get(kind)
        msgs = read_all(self.bootstrap, self.topics[kind], expect, timeout=timeout)
        return [codec(schema).decode(m.value()) if schema else m for m in msgs]


@pytest.fixture
def analytics(bootstrap: str, tmp_path: Path) -> Iterator[Analytics]:
    """Fresh topics (4 partitions where co-partitioned) and the environment of one analytics app."""
    run = uuid.uuid4().hex[:10]
    topics = {k: f"test.analytics.{k}.{run}" for k in _KINDS}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(n, 1 if k in ("cams", "dlq") else 4, 1) for k, n in topics.items()]
    for f in admin.create_topics(new).values():
        f.result(30)
    app_id = f"test-analytics-{run}"
    env = dict(
        os.environ,
        ITS_KAFKA_BOOTSTRAP=bootstrap,
        ITS_ANALYTICS_APP_ID=app_id,
        ITS_ANALYTICS_DATA_DIR=str(tmp_path / "data"),
        ITS_ANALYTICS_METRICS_PORT="0",
        ITS_ANALYTICS_CAMERA_SYNC_TIMEOUT_S="1",
        ITS_ANALYTICS_DETECTIONS_TOPIC=topics["det"],
        ITS_ANALYTICS_CAMERA_STATUS_TOPIC=topics["status"],
        ITS_ANALYTICS_CAMERAS_TOPIC=topics["cams"],
        ITS_ANALYTICS_VEHICLE_EVENTS_TOPIC=topics["veh"],
        ITS_ANALYTICS_TRAFFIC_STATS_TOPIC=topics["stats"],
        ITS_ANALYTICS_INCIDENTS_TOPIC=topics["inc"],
        ITS_ANALYTICS_MOVEMENTS_TOPIC=topics["mov"],
        ITS_ANALYTICS_DLQ_TOPIC=topics["dlq"],
    )
    yield Analytics(bootstrap, topics, env, tmp_path / "analytics.log")
    internal = [f"{app_id}-camera-state-changelog", f"{app_id}-__assignor-__leader"]
    existing = set(admin.list_topics(timeout=10).topics)
    for f in admin.delete_topics([t for t in [*topics.values(), *internal] if t in existing]).values():
        f.result(30)


@pytest.fixture
def worker(analytics: Analytics) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(fake_race: str | None = None) -> subprocess.Popen[bytes]:
        p = analytics.start(fake_race)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def _reference(records: list[DetectionsProduced], cfgs: dict[str, CameraConfig]) -> list[tuple[str, Any]]:
    """What the worker must produce: the same logic, in-process, on the same records in order."""
    params = AnalyticsSettings().params()
    states: dict[str, CameraAnalytics] = {}
    out: list[tuple[str, Any]] = []
    for r in records:
        st = states.setdefault(r["camera_id"], CameraAnalytics(r["camera_id"], params))
        if st.classify(r) == "ok":
            out += st.process(r, cfgs[r["camera_id"]])
    return out


def _cars(n: int, every: int, seed: int) -> list[Car]:
    """Cars entering at the top every `every` frames, driving down through a line at y = 360 in about 3 s."""
    return [
        Car(start_frame=5 + i * every, x=150.0 + (i * 97 + seed * 31) % 900, y=-20.0, vx=0.0, vy=12.0, frames=70)
        for i in range(n)
    ]


def _interrupted_run(
    analytics: Analytics, worker: Callable[..., subprocess.Popen[bytes]], stop: signal.Signals, race: str | None
) -> int:
    """Three cameras' traffic; a worker stopped with `stop` mid-stream, a second one finishing: exactly the events
    of an uninterrupted run (the same ids: track ids depend only on a camera's frames). Vehicles committed at the
    stop, returned."""
    cams = [f"cam-{i}" for i in range(3)]
    cfgs = {c: line_camera(c, y=0.5) for c in cams}
    for cfg in cfgs.values():
        put_camera(analytics.bootstrap, cfg, topic=analytics.topics["cams"])
    # Enough frames that the worker (about 1,000 a second here) is mid-stream when it is stopped.
    records = [r for i, c in enumerate(cams) for r in traffic(c, _cars(CARS, 25, i), 25 * CARS + 150)]
    ref = _reference(records, cfgs)
    refs = [rec for kind, rec in ref if kind == "vehicle"]
    ref_vehicles = sorted(rec["event_id"] for rec in refs)
    ref_stats = sorted((rec["camera_id"], rec["window_start"], rec["frames"]) for kind, rec in ref if kind == "stats")
    assert len(ref_vehicles) == 3 * CARS  # every synthetic car crosses once

    analytics.send(records)
    p = worker(race)
    wait_until(lambda: len(analytics.committed("veh")) >= 5, 90, "the first committed vehicle events")
    p.send_signal(stop)
    p.wait(60)
    at_stop = len(analytics.committed("veh"))
    assert at_stop < len(ref_vehicles), "the worker finished before the stop; the test needs more frames"

    worker(race)
    got = analytics.committed("veh", expect=len(ref_vehicles), timeout=120)
    ids = [e["event_id"] for e in got]
    assert [i for i, n in Counter(ids).items() if n > 1] == []  # nothing twice
    where = {rec["event_id"]: (rec["camera_id"], rec["frame_seq"], rec["track_id"]) for rec in [*got, *refs]}
    missing = sorted(where[i] for i in set(ref_vehicles) - set(ids))
    extra = sorted(where[i] for i in set(ids) - set(ref_vehicles))
    assert (missing, extra) == ([], []), f"vehicles (camera, frame, track) missing {missing}, extra {extra}"
    stats = analytics.committed("stats", expect=len(ref_stats), timeout=30)
    assert sorted((s["camera_id"], s["window_start"], s["frames"]) for s in stats) == ref_stats
    return at_stop


def test_kill_9_mid_stream_and_restart_counts_every_vehicle_once(
    analytics: Analytics, worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    at_kill = _interrupted_run(analytics, worker, signal.SIGKILL, None)
    print(f"committed vehicle events at kill: {at_kill} of {3 * CARS}")


@pytest.mark.parametrize("race", ["drop-burst", "drop-first"])
def test_records_faust_drops_on_resume_are_applied_from_the_broker_fake_race(
    analytics: Analytics, worker: Callable[..., subprocess.Popen[bytes]], race: str
) -> None:
    """Faust's resume races, forced (faust_races.py) in a worker starting a fresh group and in one resuming from
    committed offsets after a stop: the events still equal an uninterrupted run's."""
    _interrupted_run(analytics, worker, signal.SIGTERM, race)
    log = analytics.log.read_text()
    assert log.count("FAKE: ") >= 2, log[-3000:]  # the race was forced in both workers
    assert "skipped record(s) read from the broker first" in log, log[-3000:]  # and records were read back


def test_bad_input_goes_to_the_dead_letter_topic_and_the_rest_is_counted(
    analytics: Analytics, worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    b, topics = analytics.bootstrap, analytics.topics
    good = line_camera("good")
    put_camera(b, good, topic=topics["cams"])
    put_camera(b, line_camera("gone"), topic=topics["cams"])
    remove_camera(b, "gone", topic=topics["cams"])
    seq = traffic("good", _cars(4, 20, 0), 120)
    late = seq[30]
    clean = [r for r in seq if r is not late]
    # frame 30 held back until after frame 60 (late), frame 40 delivered twice (duplicate)
    sent = [*clean[:39], clean[39], clean[39], *clean[40:59], late, *clean[59:]]
    worker()
    analytics.send(sent)
    produce(b, topics["det"], [(b"good", b"not avro at all")])
    analytics.send(traffic("ghost", _cars(1, 10, 0), 5)[:1] + traffic("gone", _cars(1, 10, 0), 5)[:1])

    dlq = analytics.committed("dlq", expect=4, timeout=90)
    letters = {codec("DeadLetter").decode(m.value())["error_type"]: codec("DeadLetter").decode(m.value()) for m in dlq}
    assert sorted(letters) == ["bad-payload", "late-frame", "removed-camera", "unknown-camera"]
    assert letters["late-frame"]["source_topic"] == topics["det"]
    assert codec("DetectionsProduced").decode(letters["late-frame"]["value"])["frame_seq"] == late["frame_seq"]
    assert "itscam cameras add" in letters["unknown-camera"]["error"]
    want = sorted(rec["event_id"] for kind, rec in _reference(clean, {"good": good}) if kind == "vehicle")
    got = analytics.committed("veh", expect=len(want), timeout=30)
    assert sorted(e["event_id"] for e in got) == want and len(want) == 4
    # Faust's lines go through our JSON, redacting formatter too (it used to swap in its own console handler);
    # librdkafka's own stderr lines (%N|...) are not Python logging
    lines = [ln for ln in analytics.log.read_text().splitlines() if ln.strip() and not ln.startswith("%")]
    assert [ln for ln in lines if not ln.startswith("{")] == []
    assert any(json.loads(ln)["logger"].startswith("faust") for ln in lines)


def test_a_frame_that_fails_to_apply_is_dead_lettered_and_the_state_goes_on_as_if_it_never_came_fake_bug(
    analytics: Analytics, worker: Callable[..., subprocess.Popen[bytes]]
) -> None:
    """A frame whose application raises after changing the state (FAKE: faust_races.py fail-frame-50) is
    dead-lettered and the camera's state rebuilt as before it (its last write plus the changes since); a record
    keyed other than by its camera is refused. The events are those of the stream without either."""
    b, topics = analytics.bootstrap, analytics.topics
    cfg = line_camera("good")
    put_camera(b, cfg, topic=topics["cams"])
    seq = traffic("good", _cars(6, 20, 0), 160)
    worker("fail-frame-50")
    analytics.send(seq)
    produce(b, topics["det"], [(b"not-good", codec("DetectionsProduced").encode(seq[-1] | {"frame_seq": 999}))])
    dlq = analytics.committed("dlq", expect=2, timeout=90)
    letters = {codec("DeadLetter").decode(m.value())["error_type"]: codec("DeadLetter").decode(m.value()) for m in dlq}
    assert sorted(letters) == ["analytics-error", "wrong-key"], letters
    assert codec("DetectionsProduced").decode(letters["analytics-error"]["value"])["frame_seq"] == 50
    assert "FAKE: frame 50" in letters["analytics-error"]["error"] and "key=camera_id" in letters["wrong-key"]["error"]
    ref = _reference([r for r in seq if r["frame_seq"] != 50], {"good": cfg})
    want = sorted(rec["event_id"] for kind, rec in ref if kind == "vehicle")
    got = analytics.committed("veh", expect=len(want), timeout=30)
    assert sorted(e["event_id"] for e in got) == want and len(want) == 6


def test_a_camera_reconfigured_mid_stream_counts_on_its_new_line_from_the_next_frame(
    analytics: Analytics, worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    b, topics = analytics.bootstrap, analytics.topics
    put_camera(b, line_camera("re", y=0.3, line_id="a"), topic=topics["cams"])
    cars = [
        Car(start_frame=0, x=300, y=0, vx=0, vy=12, frames=70),
        Car(start_frame=60, x=700, y=0, vx=0, vy=12, frames=70),
    ]
    frames = traffic("re", cars, 140)
    worker()
    analytics.send(frames[:55])  # car 1 crosses a (y 216) at ~frame 18 and y 504 at ~frame 42
    wait_until(lambda: len(analytics.committed("veh")) == 1, 90, "car 1 counted on line a")
    put_camera(b, line_camera("re", y=0.7, line_id="b", updated_at=T0 + timedelta(seconds=6)), topic=topics["cams"])
    time.sleep(3)  # the worker follows the camera topic within a poll (0.2 s)
    analytics.send(frames[55:])  # car 2 crosses y 216 at ~frame 78 (no line there now) and b (504) at ~frame 102
    got = analytics.committed("veh", expect=2, timeout=60)
    assert sorted((e["line_id"], e["track_id"] > 0, e["direction"]) for e in got) == [
        ("a", True, "IN"),
        ("b", True, "IN"),
    ]
    assert len({e["track_id"] for e in got}) == 2


def test_camera_status_opens_and_closes_an_offline_incident_and_closes_the_window(
    analytics: Analytics, worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    b, topics = analytics.bootstrap, analytics.topics
    put_camera(b, line_camera("st"), topic=topics["cams"])
    worker()
    analytics.send(traffic("st", _cars(2, 20, 0), 100))  # 10 s of frames in the first minute
    wait_until(lambda: len(analytics.committed("veh")) == 2, 90, "both cars counted")
    enc = codec("CameraStatusChanged")
    produce(b, topics["status"], [(b"st", enc.encode(camera_status("st", "OFFLINE", T0 + timedelta(seconds=15))))])
    produce(b, topics["status"], [(b"st", enc.encode(camera_status("st", "ONLINE", T0 + timedelta(seconds=40))))])
    inc = analytics.committed("inc", expect=2, timeout=60)
    assert [(i["type"], i["state"]) for i in inc] == [("CAMERA_OFFLINE", "OPEN"), ("CAMERA_OFFLINE", "CLOSED")]
    assert inc[0]["incident_id"] == inc[1]["incident_id"]
    assert inc[1]["ended_at"] - inc[1]["started_at"] == timedelta(seconds=25)
    stats = analytics.committed("stats", expect=1, timeout=30)
    assert [(s["closed_by"], s["frames"], sum(c["count"] for c in s["counts"])) for s in stats] == [
        ("CAMERA_STOPPED", 100, 2)
    ]


def test_topics_that_are_not_co_partitioned_are_refused_naming_the_topic(analytics: Analytics) -> None:
    admin = AdminClient({"bootstrap.servers": analytics.bootstrap})
    odd = f"test.analytics.odd.{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(odd, 3, 1)])[odd].result(30)

    def visible() -> bool:  # a just-created topic's metadata reaches the broker's cache a moment later
        t = admin.list_topics(odd, timeout=10).topics.get(odd)
        return t is not None and t.error is None and len(t.partitions) == 3

    wait_until(visible, 30, f"metadata of {odd}")
    try:
        s = AnalyticsSettings(
            kafka_bootstrap=analytics.bootstrap,
            detections_topic=analytics.topics["det"],
            camera_status_topic=analytics.topics["status"],
            vehicle_events_topic=analytics.topics["veh"],
            traffic_stats_topic=analytics.topics["stats"],
            incidents_topic=odd,
            movements_topic=analytics.topics["mov"],
        )
        with pytest.raises(CoPartitioningError, match=rf"has 4 partitions but \{{'{odd}': 3\}}"):
            check_copartitioning(s)
        ok = s.model_copy(update={"incidents_topic": analytics.topics["inc"]})
        assert check_copartitioning(ok) == 4
    finally:
        admin.delete_topics([odd])[odd].result(30)
