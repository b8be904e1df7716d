"""No code from the analytics changelog: a crafted camera-state record is refused and the state rebuilt.

Before issue 18 the camera state was `0x01 + zlib(pickle)`, so whoever could write to the changelog topic ran code
in the analytics worker. The attack here is a pickle whose loading creates a marker file, written with the old
version byte and with the new one: load_state refuses both, and the real worker on the real broker, finding them
in its changelog, reports them, counts the cameras' traffic from a fresh state and never creates the marker.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus.registry import put_camera
from schemas import codec
from streams.analytics.camera import CameraAnalytics, Params
from streams.analytics.state import STATE_VERSION, StateDecodeError, dump_state, load_state, state_to_data
from tests.kafka_helpers import read_all, wait_until
from tests.streams.analytics.factories import Car, camera_status, line_camera, traffic
from tests.streams.analytics.test_app import Analytics, _cars, _reference, analytics, worker  # noqa: F401
from tests.streams.analytics.test_camera import CALIBRATION, rect

CAM = "cam-1"


class _Touch:
    """Unpickling this calls Path.touch(marker): the stand-in for any code an attacker would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def crafted(marker: Path) -> dict[str, bytes]:
    """Malicious changelog values, by the version byte they claim."""
    bomb = pickle.dumps(_Touch(marker), protocol=5)
    return {
        "v1-pickle": b"\x01" + zlib.compress(bomb),  # exactly the pre-issue-18 layout
        "v2-pickle": bytes([STATE_VERSION]) + zlib.compress(bomb),  # the new version byte over a pickle
        "v2-raw-pickle": bytes([STATE_VERSION]) + bomb,
        "v9": b"\x09" + zlib.compress(bomb),
    }


def test_the_crafted_record_is_a_live_exploit_for_pickle(tmp_path: Path) -> None:
    """Control: the same bytes, unpickled the way the old load_state did, do run the attacker's code."""
    marker = tmp_path / "control"
    pickle.loads(zlib.decompress(crafted(marker)["v1-pickle"][1:]))
    assert marker.exists()


@pytest.mark.parametrize("kind", ["v1-pickle", "v2-pickle", "v2-raw-pickle", "v9"])
def test_load_state_refuses_a_crafted_pickle_without_running_it(tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(StateDecodeError) as err:
        load_state(crafted(marker)[kind], Params(), CAM)
    assert not marker.exists()
    assert str(marker) not in str(err.value)  # the reason, never the record's bytes


def test_load_state_refuses_garbage_and_bombs() -> None:
    good = CameraAnalytics(CAM, Params())
    plain = state_to_data(good)
    cases = [
        b"",
        b"\x02",
        b"\x02" + b"not zlib",
        b"\x02" + zlib.compress(b"\xc1"),  # msgpack's never-used byte
        b"\x02" + zlib.compress(msgpack.packb([1, 2, 3])),
        b"\x02" + zlib.compress(msgpack.packb({**plain, "last_seq": "x"})),
        b"\x02" + zlib.compress(msgpack.packb({k: v for k, v in plain.items() if k != "window"})),
        b"\x02" + zlib.compress(msgpack.packb(plain) + b"trailing"),
        b"\x02" + zlib.compress(b"\x00" * (80 * 1024 * 1024)),  # inflates past MAX_STATE_BYTES
        b"\x02" + zlib.compress(msgpack.packb(msgpack.ExtType(1, b"x"))),
        # small on the wire, but millions of objects to rebuild: refused by the per-list cap
        b"\x02" + zlib.compress(msgpack.packb({**plain, "recent": [0] * 1_000_000})),
    ]
    for data in cases:
        with pytest.raises(StateDecodeError):
            load_state(data, Params(), CAM)
    with pytest.raises(StateDecodeError, match="another camera"):
        load_state(dump_state(good), Params(), "cam-2")


# -- the encoding round-trips realistic states -------------------------------------------------------------------

_CARS = st.builds(
    Car,
    start_frame=st.integers(0, 60),
    x=st.floats(50, 1230),
    y=st.floats(-40, 760),
    vx=st.floats(-25, 25),
    vy=st.floats(-25, 25),
    w=st.floats(40, 200),
    h=st.floats(30, 150),
    frames=st.none() | st.integers(5, 120),
    class_name=st.sampled_from(["car", "truck", "bus", "person"]),
    conf=st.floats(0.15, 1.0),
)


def _config(calibrated: bool, approaches: bool) -> Any:
    zones = [rect("stop-1", "stop", 0.3, 0.5, 0.7, 0.95), rect("occ-1", "occupancy", 0.2, 0.5, 0.8, 0.9)]
    if approaches:
        zones += [rect("w", "approach", 0.0, 0.3, 0.2, 0.7), rect("e", "approach", 0.8, 0.3, 1.0, 0.7)]
    return line_camera(CAM, one_way=True, zones=zones, calibration=CALIBRATION if calibrated else None)


def _run(ca: CameraAnalytics, evs: list[Any], cfg: Any) -> list[Any]:
    """Detections in order; a CameraStatusChanged record (it has `status`) applied as a status change."""
    out = []
    for ev in evs:
        if "status" in ev:
            out += ca.status(ev)
        elif ca.classify(ev) == "ok":
            out += ca.process(ev, cfg)
    return out


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cars=st.lists(_CARS, min_size=0, max_size=8),
    n_frames=st.integers(2, 150),
    cut=st.floats(0, 1),
    jitter=st.sampled_from([0.0, 3.0]),
    calibrated=st.booleans(),
    approaches=st.booleans(),
    offline=st.booleans(),
)
def test_a_stored_state_round_trips_and_continues_like_uninterrupted(
    cars: list[Car], n_frames: int, cut: float, jitter: float, calibrated: bool, approaches: bool, offline: bool
) -> None:
    params = Params(stop_seconds=2.0, window=5.0, congestion_window=3.0, congestion_threshold=0.05)
    cfg = _config(calibrated, approaches)
    evs: list[Any] = traffic(CAM, cars, n_frames, jitter=jitter, seed=n_frames)
    k = int(cut * n_frames)
    if offline and k:  # the camera went offline just before the cut: an open incident, a window closed early
        evs.insert(k, camera_status(CAM, "OFFLINE", evs[k - 1]["captured_at"]))
        k += 1
    whole = _run(CameraAnalytics(CAM, params), evs, cfg)
    ca = CameraAnalytics(CAM, params)
    head = _run(ca, evs[:k], cfg)
    data = dump_state(ca)
    restored = load_state(data, params, CAM)
    assert dump_state(restored) == data  # stable: what is read is what was written
    assert head + _run(restored, evs[k:], cfg) == whole


_LEAF = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=8)
)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_damaged_state_is_refused_or_read_never_anything_else(data: st.DataObject) -> None:
    """Any field of a real state replaced by any value: load_state answers a state or StateDecodeError."""
    ca = CameraAnalytics(CAM, Params())
    _run(ca, traffic(CAM, [Car(0, 300, 100, 5, 10), Car(3, 900, 200, -5, 8)], 12), line_camera(CAM))
    plain = state_to_data(ca)
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for k, v in items:
            walk(v, [*path, k])

    walk(plain, [])
    path = data.draw(st.sampled_from(paths[1:]))
    node = plain
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = data.draw(_LEAF | st.lists(_LEAF, max_size=3) | st.dictionaries(st.text(max_size=3), _LEAF))
    with contextlib.suppress(StateDecodeError):
        load_state(bytes([STATE_VERSION]) + zlib.compress(msgpack.packb(plain)), Params(), CAM)


def test_floats_survive_exactly() -> None:
    ca = CameraAnalytics(CAM, Params())
    ca.last_t, ca.closed_until = 1714564800.123456789, -math.inf
    back = load_state(dump_state(ca), Params(), CAM)
    assert (back.last_t, back.closed_until) == (ca.last_t, -math.inf)


# -- the real worker, on the real broker ---------------------------------------------------------------------------


@pytest.mark.integration
def test_the_worker_refuses_crafted_changelog_records_and_rebuilds_from_the_input(
    analytics: Analytics,  # noqa: F811
    worker: Callable[[], subprocess.Popen[bytes]],  # noqa: F811
    tmp_path: Path,
) -> None:
    b, topics = analytics.bootstrap, analytics.topics
    kinds = ["v1-pickle", "v2-pickle", "v9"]
    cams = {kind: f"cam-{kind}" for kind in kinds}
    cfgs = {c: line_camera(c) for c in cams.values()}
    for cfg in cfgs.values():
        put_camera(b, cfg, topic=topics["cams"])
    records = [r for i, c in enumerate(cams.values()) for r in traffic(c, _cars(3, 20, i), 120)]
    partition = {c: i for i, c in enumerate(cams.values())}  # one camera per partition, chosen here

    # The changelog topic exists before the worker does (Faust keeps it), holding the attacker's records for the
    # cameras' keys on the partitions the worker will recover them from.
    changelog = f"{analytics.env['ITS_ANALYTICS_APP_ID']}-camera-state-changelog"
    admin = AdminClient({"bootstrap.servers": b})
    for f in admin.create_topics([NewTopic(changelog, 4, 1, config={"cleanup.policy": "compact"})]).values():
        f.result(30)
    markers = {kind: tmp_path / f"pwned-{kind}" for kind in kinds}
    p = Producer({"bootstrap.servers": b})
    for kind, cam in cams.items():
        p.produce(changelog, key=cam.encode(), value=crafted(markers[kind])[kind], partition=partition[cam])
    assert p.flush(30) == 0

    worker()
    wait_until(lambda: "Worker ready" in analytics.log.read_text(), 90, "the worker recovered its table")
    enc = codec("DetectionsProduced")
    for r in records:
        p.produce(topics["det"], key=r["camera_id"].encode(), value=enc.encode(r), partition=partition[r["camera_id"]])
    assert p.flush(30) == 0
    want = sorted(rec["event_id"] for kind, rec in _reference(records, cfgs) if kind == "vehicle")
    got = analytics.committed("veh", expect=len(want), timeout=120)
    assert sorted(e["event_id"] for e in got) == want and len(want) == 9  # rebuilt from the input: all counted

    assert [k for k, m in markers.items() if m.exists()] == []  # no attacker code ran
    log_text = analytics.log.read_text()
    refused = {
        c: line
        for line in log_text.splitlines()
        if "could not be decoded" in line
        for c in cams.values()
        if repr(c) in line
    }
    assert sorted(refused) == sorted(cams.values()), log_text[-3000:]
    assert "version 1 (pickle) records are refused" in refused[cams["v1-pickle"]]
    assert "unknown state version 9" in refused[cams["v9"]]
    assert changelog in refused[cams["v2-pickle"]] and "msgpack" in refused[cams["v2-pickle"]]
    assert all(str(m) not in log_text for m in markers.values())  # never the record's bytes

    # The state written back is the new encoding and reads back.
    def latest() -> dict[str, bytes]:
        # camera states only: keys starting with a NUL byte are the applied-offset marks (app.py)
        return {m.key().decode(): m.value() for m in read_all(b, changelog, 10**6, timeout=3) if m.key()[:1] != b"\x00"}

    wait_until(lambda: all(latest()[c][:1] == bytes([STATE_VERSION]) for c in cams.values()), 30, "new states")
    for cam, value in latest().items():
        assert load_state(value, Params(), cam).last_seq == 119
