"""The changelog encoding, version 4: recent frames as runs, Kalman covariances as their blocks; version-3 records
(8x8 covariances) and version-2 records (supervision's tracker fields, recent frames listed) still read, into a state
that goes on as the original would."""

from __future__ import annotations

import zlib
from collections import deque

import msgpack
import pytest

from schemas.events import DetectionsProduced
from streams.analytics.camera import _RECENT_SEQS, CameraAnalytics, Params
from streams.analytics.plain import StateDecodeError
from streams.analytics.state import (
    LEGACY_SV_VERSION,
    SQUARE_COV_VERSION,
    STATE_VERSION,
    _runs,
    _unruns,
    dump_state,
    load_state,
    state_to_data,
)
from tests.streams.analytics.factories import Car, line_camera, traffic
from tests.streams.analytics.test_bytetrack import FPS, Reference


@pytest.mark.parametrize(
    "seqs", [[], [5], list(range(100, 612)), [1, 2, 3, 7, 8, 4, 9, 10, 2], [10, 9, 8, 7], list(range(0, 1024, 2))]
)
def test_recent_frames_round_trip_as_runs_in_their_order(seqs: list[int]) -> None:
    kept = deque(seqs, maxlen=_RECENT_SEQS)
    assert _unruns(_runs(kept)) == list(kept)


def test_recent_runs_longer_than_a_state_keeps_are_refused() -> None:
    with pytest.raises(StateDecodeError, match="more than"):
        _unruns([[0, _RECENT_SEQS], [10_000, 1]])
    with pytest.raises(StateDecodeError, match="more than"):
        _unruns([[0, 10**9]])


def test_a_version_2_record_loads_and_counts_on_exactly_as_before() -> None:
    cfg = line_camera("cam-v2", y=0.5)
    cars = [Car(start_frame=2 + 9 * i, x=200.0 + 60 * i, y=-20.0, vx=0.0, vy=12.0, frames=70) for i in range(12)]
    records = traffic("cam-v2", cars, 200)
    params = Params()
    st = CameraAnalytics("cam-v2", params)
    for r in records[:100]:
        assert st.classify(r) == "ok"
        st.process(r, cfg)
    # The same camera as the version-2 format wrote it: supervision's tracker, fed the same boxes, and a plain list.
    assert cfg["target_fps"] == FPS
    data = state_to_data(st)
    data["tracker"] = _replayed_reference(records[:100], params).v2_data()
    data["recent"] = list(st.recent)
    v2 = bytes([LEGACY_SV_VERSION]) + zlib.compress(msgpack.packb(data, use_bin_type=True))
    restored = load_state(v2, params, "cam-v2")
    assert restored.tracker is not None and st.tracker is not None
    assert restored.tracker.alive() == st.tracker.alive() and restored.tracks.keys() == st.tracks.keys()
    assert load_state(dump_state(restored), params, "cam-v2").recent == st.recent  # written back as version 4
    outs = [(st.process(r, cfg), restored.process(r, cfg)) for r in records[100:]]
    assert all(a == b for a, b in outs) and any(a for a, _ in outs)  # the same events, and there were some


def _square(blocks: list[list[float]]) -> list[list[float]]:
    """The 8x8 covariance a version-3 record held for these 4x3 blocks (zeros off the blocks)."""
    c = [[0.0] * 8 for _ in range(8)]
    for k, (pp, pv, vv) in enumerate(blocks):
        c[k][k], c[k][k + 4], c[k + 4][k], c[k + 4][k + 4] = pp, pv, pv, vv
    return c


def test_a_version_3_record_with_square_covariances_loads_and_counts_on_exactly_as_before() -> None:
    import numpy as np

    from streams.analytics.plain import array_from, array_to

    cfg = line_camera("cam-v3", y=0.5)
    cars = [Car(start_frame=2 + 9 * i, x=200.0 + 60 * i, y=-20.0, vx=0.0, vy=12.0, frames=70) for i in range(12)]
    records = traffic("cam-v3", cars, 200)
    params = Params()
    st = CameraAnalytics("cam-v3", params)
    for r in records[:100]:
        st.process(r, cfg)
    data = state_to_data(st)
    for kind in ("tracked", "lost"):
        cols = data["tracker"][kind]
        cols["cov"] = array_to(np.array([_square(b) for b in array_from(cols["cov"]).tolist()]).reshape(-1, 8, 8))
    assert np.shape(array_from(data["tracker"]["tracked"]["cov"]))[1:] == (8, 8)
    v3 = bytes([SQUARE_COV_VERSION]) + zlib.compress(msgpack.packb(data, use_bin_type=True))
    restored = load_state(v3, params, "cam-v3")
    assert dump_state(restored) == dump_state(st)  # the blocks read out of the 8x8 are the blocks, bit for bit
    assert dump_state(restored)[0] == STATE_VERSION == 4
    outs = [(st.process(r, cfg), restored.process(r, cfg)) for r in records[100:]]
    assert all(a == b for a, b in outs) and any(a for a, _ in outs)


def test_a_covariance_of_the_wrong_shape_is_refused_naming_it() -> None:
    cfg = line_camera("cam-shape", y=0.5)
    records = traffic("cam-shape", [Car(start_frame=1, x=300.0, y=-20.0, vx=0.0, vy=12.0, frames=40)], 20)
    st = CameraAnalytics("cam-shape", Params())
    for r in records:
        st.process(r, cfg)
    v4 = dump_state(st)
    with pytest.raises(StateDecodeError, match="8x8"):  # a version-4 body labelled version 3
        load_state(bytes([SQUARE_COV_VERSION]) + v4[1:], Params(), "cam-shape")


def _tracked_data(camera: str) -> dict:  # type: ignore[type-arg]
    cfg = line_camera(camera, y=0.5)
    cars = [Car(start_frame=1, x=300.0 + 150 * i, y=-20.0, vx=0.0, vy=12.0, frames=40) for i in range(3)]
    st = CameraAnalytics(camera, Params())
    for r in traffic(camera, cars, 20):
        st.process(r, cfg)
    return state_to_data(st)


def _record(data: dict) -> bytes:  # type: ignore[type-arg]
    return bytes([STATE_VERSION]) + zlib.compress(msgpack.packb(data, use_bin_type=True))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda t: t["tracked"]["iid"].__setitem__(1, t["tracked"]["iid"][0]), "repeated"),
        (lambda t: t.__setitem__("next_iid", 0), "not below the next id"),
        (lambda t: t["tracked"]["state"].__setitem__(0, 7), "not tracked"),
    ],
)
def test_a_tracker_state_the_tracker_cannot_have_kept_is_refused_naming_why(change: object, why: str) -> None:
    data = _tracked_data("cam-ids")
    assert len(data["tracker"]["tracked"]["iid"]) >= 2
    assert load_state(_record(data), Params(), "cam-ids").tracker is not None  # as written, it loads
    change(data["tracker"])  # type: ignore[operator]
    with pytest.raises(StateDecodeError, match=why):
        load_state(_record(data), Params(), "cam-ids")


def _replayed_reference(records: list[DetectionsProduced], params: Params) -> Reference:
    """supervision's ByteTrack fed the boxes CameraAnalytics gave its tracker for these records."""
    import numpy as np

    ref = Reference(params.track)
    for r in records:
        d = [x for x in r["detections"] if x["class_name"] in params.classes]
        xyxy = np.array([[x["x1"], x["y1"], x["x2"], x["y2"]] for x in d], np.float64).reshape(-1, 4)
        ref.update(xyxy, np.array([x["confidence"] for x in d]), np.array([x["class_id"] for x in d], np.int64))
    return ref


def test_the_ingest_run_of_the_last_frame_survives_a_restore_so_a_gap_after_it_is_counted() -> None:
    st = CameraAnalytics("cam-run", Params())
    st.run, st.run_index = 1_700_000_000_000, 41
    back = load_state(dump_state(st), Params(), "cam-run")
    assert (back.run, back.run_index) == (1_700_000_000_000, 41)
    data = state_to_data(st)
    del data["run"], data["run_index"]  # a record written before runs were numbered
    old = bytes([3]) + zlib.compress(msgpack.packb(data, use_bin_type=True))
    assert (load_state(old, Params(), "cam-run").run, load_state(old, Params(), "cam-run").run_index) == (None, -1)


def test_a_trail_is_two_columns_and_one_written_as_point_lists_still_loads() -> None:
    """Speed trails are stored as float64 times and float32 ground points (a tenth of a camera's state); a state
    written before, with [t, x, y] lists, restores the same trail; a damaged column is refused naming it."""
    cfg = line_camera("cam-trail", y=0.5)
    cars = [Car(start_frame=0, x=300.0 + 150 * i, y=200.0, vx=0.0, vy=6.0) for i in range(3)]
    st = CameraAnalytics("cam-trail", Params())
    for r in traffic("cam-trail", cars, 12):
        st.process(r, cfg)
    data = state_to_data(st)
    (tid, tr), *_ = data["tracks"]
    assert set(tr["trail"]) == {"t", "xy"} and len(tr["trail"]["xy"]) == len(tr["trail"]["t"]) > 0
    restored = load_state(_record(data), Params(), "cam-trail")
    trail = list(dict(restored.tracks)[tid].trail)
    assert restored.tracks and all(len(p) == 3 for p in trail)
    assert state_to_data(restored) == data  # float32 points survive the round trip exactly
    tr["trail"] = [list(p) for p in trail]  # the previous form
    assert list(dict(load_state(_record(data), Params(), "cam-trail").tracks)[tid].trail) == trail
    tr["trail"] = {"t": b"\x00" * 8, "xy": b"\x00" * 4}
    with pytest.raises(StateDecodeError, match="float64 times and as many float32"):
        load_state(_record(data), Params(), "cam-trail")
