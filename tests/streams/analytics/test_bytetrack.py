"""Our ByteTrack against the one it replaces, supervision 0.27's `sv.ByteTrack` (a test-only dependency now).

The rules were kept step for step so the counts stay what they were tuned to be: on the same detections, both give
the same ids to the same boxes, frame after frame, through entries, exits, missed and low-score detections. And a
state written by the version-2 format (supervision's fields) restores into ours and goes on exactly as supervision
would have. If supervision changes its tracker, these tests say so; our tracker does not change with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import supervision as sv

from bench.analytics import camera_traffic
from streams.analytics.plain import array_to
from streams.analytics.tracking import Tracked, Tracker, TrackParams

Frame = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]

FPS = 10.0


def frames(camera: str, n: int, in_view: int, seed: int, drop: float = 0.15, dim: float = 0.2) -> Iterator[Frame]:
    """Synthetic six-lane traffic (bench/analytics.py) with detections missed (`drop`) and dimmed below the
    activation threshold (`dim`) at random: every branch of the association runs."""
    rng = np.random.default_rng(seed)
    events, _ = camera_traffic(camera, n, in_view, seed=seed, jitter=3.0 + seed)
    for ev in events:
        d = ev["detections"]
        xyxy = np.array([[x["x1"], x["y1"], x["x2"], x["y2"]] for x in d], np.float64).reshape(-1, 4)
        conf = np.array([x["confidence"] for x in d], np.float64)
        cls = np.array([x["class_id"] for x in d], np.int64)
        conf = np.where(rng.random(len(conf)) < dim, conf * 0.4, conf)
        keep = rng.random(len(conf)) > drop
        yield xyxy[keep], conf[keep], cls[keep]


class Reference:
    """supervision's ByteTrack, driven the way tracking.py drove it before version 3."""

    def __init__(self, params: TrackParams) -> None:
        self.bt = sv.ByteTrack(
            track_activation_threshold=params.activation_threshold,
            lost_track_buffer=max(1, round(params.lost_seconds * FPS)),
            minimum_matching_threshold=params.matching_threshold,
            frame_rate=30,
            minimum_consecutive_frames=params.min_consecutive_frames,
        )

    def update(self, xyxy: Any, conf: Any, cls: Any) -> Tracked:
        out = self.bt.update_with_detections(
            sv.Detections(xyxy=xyxy.astype(np.float32), confidence=conf.astype(np.float32), class_id=cls.astype(int))
        )
        return Tracked(
            track_id=np.asarray(out.tracker_id, np.int64),
            xyxy=np.asarray(out.xyxy, np.float64).reshape(-1, 4),
            class_id=np.asarray(out.class_id if out.class_id is not None else [], np.int64),
            confidence=np.asarray(out.confidence if out.confidence is not None else [], np.float64),
        )

    def v2_data(self) -> dict[str, Any]:
        """The tracker as the version-2 state format wrote it (issue 18's tracking.py, field by field)."""
        bt = self.bt

        def track(t: Any) -> dict[str, Any]:
            return {
                "state": t.state.value,
                "is_activated": t.is_activated,
                "start_frame": t.start_frame,
                "frame_id": t.frame_id,
                "tlwh": array_to(t._tlwh),
                "mean": None if t.mean is None else array_to(t.mean),
                "covariance": None if t.covariance is None else array_to(t.covariance),
                "has_filter": t.kalman_filter is not None,
                "score": array_to(t.score) if isinstance(t.score, np.generic | np.ndarray) else t.score,
                "tracklet_len": t.tracklet_len,
                "min_consecutive_frames": t.minimum_consecutive_frames,
                "internal_id": t.internal_track_id,
                "external_id": t.external_track_id,
            }

        return {
            "activation_threshold": bt.track_activation_threshold,
            "matching_threshold": bt.minimum_matching_threshold,
            "det_thresh": bt.det_thresh,
            "max_time_lost": bt.max_time_lost,
            "min_consecutive_frames": bt.minimum_consecutive_frames,
            "frame_id": bt.frame_id,
            "internal_next_id": bt.internal_id_counter._id,
            "external_next_id": bt.external_id_counter._id,
            "tracked": [track(t) for t in bt.tracked_tracks],
            "lost": [track(t) for t in bt.lost_tracks],
            "removed": [track(t) for t in bt.removed_tracks],
        }


def same(a: Tracked, b: Tracked) -> bool:
    return (
        np.array_equal(a.track_id, b.track_id)
        and np.array_equal(a.class_id, b.class_id)
        and np.allclose(a.xyxy, b.xyxy)
        and np.allclose(a.confidence, b.confidence)
    )


def alive(ref: Reference) -> set[int]:
    return {int(t.external_track_id) for t in (*ref.bt.tracked_tracks, *ref.bt.lost_tracks) if t.external_track_id >= 0}


def test_supervision_is_the_version_the_reference_was_written_for() -> None:
    assert sv.__version__ == "0.27.0.post2", (
        f"supervision is {sv.__version__}: check that sv.ByteTrack still follows the rules bytetrack.py copied from "
        "0.27 before trusting the equivalence tests below (our tracker does not depend on it)"
    )


@pytest.mark.parametrize(
    ("in_view", "drop", "dim", "params"),
    [
        (10, 0.15, 0.2, TrackParams()),
        (25, 0.3, 0.3, TrackParams()),  # dense, many misses: lost tracks re-found, expired, duplicates dropped
        (12, 0.1, 0.1, TrackParams(min_consecutive_frames=3, matching_threshold=0.8, lost_seconds=0.5)),
    ],
)
def test_same_ids_as_supervision_bytetrack_frame_after_frame(
    in_view: int, drop: float, dim: float, params: TrackParams
) -> None:
    ours, ref = Tracker(FPS, params), Reference(params)
    n = ids = 0
    for seed in range(3):
        ours, ref = Tracker(FPS, params), Reference(params)
        for i, (xyxy, conf, cls) in enumerate(frames(f"cam-{seed}", 300, in_view, seed, drop, dim)):
            a, b = ours.update(xyxy, conf, cls), ref.update(xyxy, conf, cls)
            assert same(a, b), f"seed {seed} frame {i}: ours {a.track_id.tolist()}, supervision {b.track_id.tolist()}"
            n += 1
            ids = max(ids, int(a.track_id.max(initial=0)))
        assert ours.alive() == alive(ref)
    assert n == 900 and ids > 50  # long enough that tracks came, went and came back


def test_a_version_2_state_restores_into_ours_and_goes_on_as_supervision_would() -> None:
    params = TrackParams()
    seq = list(frames("cam-legacy", 240, 15, 7))
    ref = Reference(params)
    for f in seq[:120]:
        ref.update(*f)
    ours = Tracker.from_legacy_data(ref.v2_data())
    assert ours.alive() and ours.alive() == alive(ref)
    for i, f in enumerate(seq[120:], 120):
        a, b = ours.update(*f), ref.update(*f)
        assert same(a, b), f"frame {i}: ours {a.track_id.tolist()}, supervision {b.track_id.tolist()}"


def test_our_state_round_trips_and_the_restored_tracker_computes_exactly_as_the_saved_one() -> None:
    params = TrackParams()
    seq = list(frames("cam-rt", 200, 15, 3))
    a = Tracker(FPS, params)
    for f in seq[:100]:
        a.update(*f)
    b = Tracker.from_data(a.to_data())
    for f in seq[100:]:
        ra, rb = a.update(*f), b.update(*f)
        assert np.array_equal(ra.track_id, rb.track_id) and np.array_equal(ra.xyxy, rb.xyxy)
    assert a.to_data() == b.to_data()  # bit for bit, Kalman state included


def test_the_new_track_threshold_decides_which_faint_vehicle_starts_a_track_and_survives_a_restore() -> None:
    """A vehicle seen at 0.3 throughout: supervision's rule (activation + 0.1 = 0.35) never starts its track, the
    analytics default (0.25, Ultralytics' new_track_thresh) does; the threshold is part of the saved state, and a
    state written before it was (no "new_track") restores supervision's."""
    box = lambda i: np.array([[100.0 + 4 * i, 100.0, 180.0 + 4 * i, 150.0]])  # noqa: E731
    conf, cls = np.array([0.3]), np.array([2])
    sv_rule, ours = Tracker(FPS, TrackParams()), Tracker(FPS, TrackParams(new_track_threshold=0.25))
    for i in range(5):
        assert len(sv_rule.update(box(i), conf, cls).track_id) == 0
        got = ours.update(box(i), conf, cls).track_id
    assert got.tolist() == [1]
    data = ours.to_data()
    assert data["new_track"] == 0.25 and Tracker.from_data(data).to_data() == data
    del data["new_track"]
    assert Tracker.from_data(data).to_data()["new_track"] == pytest.approx(0.35)


def test_the_matching_threshold_follows_the_cameras_frame_interval_unless_set() -> None:
    """ByteTrack's 0.8 at 30 fps, our measured 0.95 at 10 fps (and below), linear in the frame interval between."""
    from streams.analytics.settings import AnalyticsSettings
    from streams.analytics.tracking import matching_for

    assert matching_for(30) == pytest.approx(0.8) and matching_for(60) == pytest.approx(0.8)
    assert matching_for(15) == pytest.approx(0.875) and matching_for(10) == 0.95 and matching_for(2) == 0.95
    params = AnalyticsSettings().params().track
    assert params.matching_threshold is None
    assert Tracker(30.0, params).to_data()["matching"] == pytest.approx(0.8)
    assert Tracker(10.0, params).to_data()["matching"] == 0.95
    fixed = AnalyticsSettings(track_matching=0.9).params().track
    assert Tracker(30.0, fixed).to_data()["matching"] == 0.9


def test_a_track_seen_once_is_confirmed_at_5_fps_where_upstreams_threshold_drops_it() -> None:
    """A car moving 50 px per sample (an 80 px box: IoU 0.23 between two samples, as a car crossing a 5 fps camera
    does): ByteTrack's 0.7 for unconfirmed tracks drops its track every frame and it never gets an id; the default,
    by the camera's rate, confirms it at 5 fps and keeps upstream's 0.7 at 10 fps and above. The threshold is part of
    the saved state; a state written before it was (no "unconfirmed") restores upstream's 0.7."""
    from streams.analytics.settings import AnalyticsSettings
    from streams.analytics.tracking import SPARSE_UNCONFIRMED, unconfirmed_for

    assert unconfirmed_for(10) == 0.7 and unconfirmed_for(30) == 0.7 and unconfirmed_for(5) == SPARSE_UNCONFIRMED
    assert unconfirmed_for(1) == SPARSE_UNCONFIRMED and 0.7 < unconfirmed_for(7.5) < SPARSE_UNCONFIRMED
    box = lambda i: np.array([[100.0 + 50 * i, 300.0, 180.0 + 50 * i, 350.0]])  # noqa: E731
    conf, cls = np.array([0.9]), np.array([2])
    auto = AnalyticsSettings().params().track
    assert auto.unconfirmed_threshold is None
    upstream = Tracker(5.0, TrackParams(matching_threshold=None, unconfirmed_threshold=0.7))
    ours = Tracker(5.0, auto)
    upstream.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))  # the first frame activates at once
    ours.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    ids: list[int] = []
    for i in range(6):
        assert len(upstream.update(box(i), conf, cls).track_id) == 0
        ids += ours.update(box(i), conf, cls).track_id.tolist()
    assert ids and set(ids) == {1}
    assert Tracker(10.0, auto).to_data()["unconfirmed"] == 0.7
    data = ours.to_data()
    assert data["unconfirmed"] == SPARSE_UNCONFIRMED and Tracker.from_data(data).to_data() == data
    del data["unconfirmed"]
    assert Tracker.from_data(data).to_data()["unconfirmed"] == 0.7
