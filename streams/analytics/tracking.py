"""Multi-object tracking per camera: our ByteTrack (bytetrack.py) behind the interface the camera state uses.

The tracker's state is plain values (`to_data`/`from_data`): counters, and per track its ids, state, ages, score and
Kalman mean and covariance blocks as float64 arrays (version 4; version 3 held the whole 8x8 covariance, whose
blocks are read out of it). A record written by the state format before version 3 (supervision's ByteTrack objects,
field by field) is read through `from_legacy_data`, the one adapter between the two.
Ids are counted per camera, so one camera's ids depend only on that camera's detection sequence: a replay from the
same state gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from streams.analytics.bytetrack import COLUMNS, LOST, REMOVED, TRACKED, ByteTrack, Tracks, blocks
from streams.analytics.plain import (
    StateDecodeError,
    array_from,
    array_to,
    field,
    need_bool,
    need_int,
    need_list,
    need_num,
)

__all__ = ["TrackParams", "Tracked", "Tracker", "matching_for", "unconfirmed_for", "warm_up"]


@dataclass(frozen=True)
class TrackParams:
    activation_threshold: float = 0.25
    #: confidence a detection needs to start a track; None: supervision's activation + 0.1 (see AnalyticsSettings)
    new_track_threshold: float | None = None
    lost_seconds: float = 1.5
    matching_threshold: float | None = 0.95  # None: by the camera's fps (matching_for); see AnalyticsSettings
    unconfirmed_threshold: float | None = 0.7  # None: by the camera's fps (unconfirmed_for); see AnalyticsSettings
    min_consecutive_frames: int = 1


def matching_for(fps: float) -> float:
    """ByteTrack's matching threshold (largest 1 - IoU still matched) for a camera sampled at `fps`: 0.8, ByteTrack's
    own, at 30 fps and above; 0.95 at 10 fps and below; linear in the frame interval between, since a vehicle's shift
    between two frames grows with it (on the shared clips' recorded detections: 24/24 and 37/36 at 30 fps; 24/24 and
    37/36 at 15 fps, where 0.875 is also the best of 0.8-0.95; 24/24 and 35/36 at 10 fps)."""
    return _by_interval(fps, (30.0, 0.8), (10.0, 0.95))


def _by_interval(fps: float, dense: tuple[float, float], sparse: tuple[float, float]) -> float:
    """A threshold (fps, value) that is dense's value at dense's fps and above, sparse's at sparse's fps and below,
    linear in the frame interval between; exactly each value at its end."""
    (dense_fps, dense_value), (sparse_fps, sparse_value) = dense, sparse
    dt = 1.0 / max(fps, 1e-6)
    share = min(1.0, max(0.0, (dt - 1 / dense_fps) / (1 / sparse_fps - 1 / dense_fps)))
    return dense_value * (1.0 - share) + sparse_value * share


#: unconfirmed_for's threshold at 5 fps and below
SPARSE_UNCONFIRMED = 0.9


def unconfirmed_for(fps: float) -> float:
    """The largest 1 - IoU at which a track seen once (unconfirmed) is matched to its second detection, for a camera
    sampled at `fps`: ByteTrack's 0.7 at 10 fps and above; SPARSE_UNCONFIRMED at 5 fps and below; linear in the frame
    interval between. At 5 fps a car crossing the frame moves most of its own length between two samples, so its
    second box overlaps the first too little for 0.7 and the track is dropped before it is confirmed: it goes
    uncounted. At 10 fps and above the rule is upstream's unchanged (loosened there, neighbours' boxes join)."""
    return _by_interval(fps, (10.0, 0.7), (5.0, SPARSE_UNCONFIRMED))


@dataclass(frozen=True)
class Tracked:
    """Detections that belong to a track this frame (pixel boxes of the original frame)."""

    track_id: npt.NDArray[np.int64]
    xyxy: npt.NDArray[np.float64]
    class_id: npt.NDArray[np.int64]
    confidence: npt.NDArray[np.float64]


class Tracker:
    def __init__(self, fps: float, params: TrackParams) -> None:
        # The lost-track buffer is counted in frames at our rate.
        self._bt = ByteTrack(
            params.activation_threshold,
            matching_for(fps) if params.matching_threshold is None else params.matching_threshold,
            max(1, round(params.lost_seconds * fps)),
            params.min_consecutive_frames,
            params.new_track_threshold,
            unconfirmed_for(fps) if params.unconfirmed_threshold is None else params.unconfirmed_threshold,
        )

    def update(
        self, xyxy: npt.NDArray[np.float64], confidence: npt.NDArray[np.float64], class_id: npt.NDArray[np.int64]
    ) -> Tracked:
        boxes = xyxy.astype(np.float32).reshape(-1, 4)
        conf = confidence.astype(np.float32)
        ids = self._bt.update(boxes, conf)  # per detection: its confirmed track's id, or -1
        keep = ids != -1
        return Tracked(
            track_id=ids[keep],
            xyxy=boxes[keep].astype(np.float64),
            class_id=np.asarray(class_id, np.int64)[keep],
            confidence=conf[keep].astype(np.float64),
        )

    def alive(self) -> set[int]:
        """Ids of tracks the tracker still follows or may still re-find."""
        return self._bt.alive()

    # -- plain data (the changelog encoding, see state.py) -------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        bt = self._bt
        return {
            "activation": bt.activation,
            "matching": bt.matching,
            "new_track": bt.det_thresh,
            "unconfirmed": bt.unconfirmed,
            "max_time_lost": bt.max_time_lost,
            "min_consecutive": bt.min_consecutive,
            "frame_id": bt.frame_id,
            "next_iid": bt.next_iid,
            "next_eid": bt.next_eid,
            "removed": bt.removed.tolist(),
            "tracked": _tracks_to(bt.tracks, 0, bt.tracks.n_tracked),
            "lost": _tracks_to(bt.tracks, bt.tracks.n_tracked, len(bt.tracks.ints)),
        }

    @classmethod
    def from_data(cls, data: Any, square_cov: bool = False) -> Tracker:
        """A tracker from its plain data; `square_cov`: a version-3 record, with 8x8 covariances."""
        bt = ByteTrack(
            need_num(field(data, "activation"), "activation"),
            need_num(field(data, "matching"), "matching"),
            need_int(field(data, "max_time_lost"), "max_time_lost"),
            need_int(field(data, "min_consecutive"), "min_consecutive"),
        )
        if isinstance(data, dict) and "new_track" in data:  # absent before it was a setting: activation + 0.1
            bt.det_thresh = need_num(data["new_track"], "new_track")
        if isinstance(data, dict) and "unconfirmed" in data:  # absent before it was a setting: upstream's 0.7
            bt.unconfirmed = need_num(data["unconfirmed"], "unconfirmed")
        bt.frame_id = need_int(field(data, "frame_id"), "frame_id")
        bt.next_iid = need_int(field(data, "next_iid"), "next_iid")
        bt.next_eid = need_int(field(data, "next_eid"), "next_eid")
        removed = [need_int(i, "removed id") for i in need_list(field(data, "removed"), "removed")]
        tracked = _tracks_from(field(data, "tracked"), "tracked", square_cov)
        lost = _tracks_from(field(data, "lost"), "lost", square_cov)
        return _wrap(bt, removed, [*tracked, *lost], len(tracked))

    @classmethod
    def from_legacy_data(cls, data: Any) -> Tracker:
        """A tracker from a version-2 record (supervision 0.27's ByteTrack, field by field, see state.py)."""
        bt = ByteTrack(
            need_num(field(data, "activation_threshold"), "activation_threshold"),
            need_num(field(data, "matching_threshold"), "matching_threshold"),
            need_int(field(data, "max_time_lost"), "max_time_lost"),
            need_int(field(data, "min_consecutive_frames"), "min_consecutive_frames"),
        )
        bt.det_thresh = need_num(field(data, "det_thresh"), "det_thresh")
        bt.frame_id = need_int(field(data, "frame_id"), "frame_id")
        bt.next_iid = need_int(field(data, "internal_next_id"), "internal_next_id")
        bt.next_eid = need_int(field(data, "external_next_id"), "external_next_id")
        tracked = [_legacy_track(t) for t in need_list(field(data, "tracked"), "tracked tracks")]
        lost = [_legacy_track(t) for t in need_list(field(data, "lost"), "lost tracks")]
        removed = [
            need_int(field(t, "internal_id"), "internal_id") for t in need_list(field(data, "removed"), "removed")
        ]
        return _wrap(bt, removed, [*tracked, *lost], len(tracked))


#: one restored track: its COLUMNS, score, mean (8) and covariance blocks (4x3)
_Row = tuple[list[int], float, Any, Any]


def _wrap(bt: ByteTrack, removed: list[int], rows: list[_Row], n_tracked: int) -> Tracker:
    """The tracker of `bt` with its restored tracks (the tracked list's rows first), checked as the tracker keeps
    them: a state that breaks them (a crafted or corrupt record) is refused here, not run."""
    bt.removed = np.array(removed, np.int64)
    bt.tracks = Tracks.of(
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], n_tracked
    )
    bad = bt.tracks.check(bt.next_iid)
    if bad is not None:
        raise StateDecodeError(f"tracker state: {bad}")
    self = Tracker.__new__(Tracker)
    self._bt = bt
    return self


_FLOATS = ("score",)


def _tracks_to(tracks: Tracks, lo: int, hi: int) -> dict[str, Any]:
    """Rows [lo, hi) of the tracks as columns (one list per field, mean and covariance blocks as n x 8 and n x 4 x 3
    arrays): the layout of version 3 and 4 records, where each track was an object."""
    ints = tracks.ints[lo:hi]
    cols: dict[str, Any] = {c: ints[:, k].tolist() for k, c in enumerate(COLUMNS)}
    cols["activated"] = [bool(a) for a in cols["activated"]]
    return {
        **cols,
        "score": tracks.score[lo:hi].tolist(),
        "mean": array_to(tracks.mean[lo:hi]),
        "cov": array_to(tracks.cov[lo:hi]),
    }


def _tracks_from(data: Any, what: str, square_cov: bool) -> list[_Row]:
    cols = {c: need_list(field(data, c), f"{what} {c}") for c in (*COLUMNS, *_FLOATS)}
    mean = array_from(field(data, "mean"), f"{what} mean")
    cov = array_from(field(data, "cov"), f"{what} covariance")
    n = len(cols["iid"])
    if any(len(v) != n for v in cols.values()) or np.shape(mean) != (n, 8):
        raise StateDecodeError(f"{what}: the track columns differ in length")
    if np.shape(cov) != ((n, 8, 8) if square_cov else (n, 4, 3)):
        raise StateDecodeError(f"{what}: the covariances are not one {'8x8' if square_cov else '4x3'} per track")
    out = []
    for i in range(n):
        ints = [
            need_int(cols["iid"][i], "track iid"),
            need_int(cols["eid"][i], "track eid"),
            _state(cols["state"][i]),
            int(need_bool(cols["activated"][i], "activated")),
            need_int(cols["start_frame"][i], "start_frame"),
            need_int(cols["frame_id"][i], "track frame_id"),
            need_int(cols["tracklet_len"][i], "tracklet_len"),
        ]
        c = blocks(cov[i]) if square_cov else np.asarray(cov[i], np.float64)
        out.append((ints, need_num(cols["score"][i]), np.asarray(mean[i], np.float64), c))
    return out


def _state(v: Any) -> int:
    s = need_int(v, "track state")
    if s not in (TRACKED, LOST, REMOVED):
        raise StateDecodeError(f"track state {s} is not tracked (1), lost (2) or removed (3)")
    return s


def _legacy_track(data: Any) -> _Row:
    mean, cov = field(data, "mean"), field(data, "covariance")
    if mean is None or cov is None:
        raise StateDecodeError("a kept track has no Kalman state")
    m = np.asarray(array_from(mean, "track mean"), np.float64)
    c = np.asarray(array_from(cov, "track covariance"), np.float64)
    if m.shape != (8,) or c.shape != (8, 8):
        raise StateDecodeError("a track's Kalman state is not 8 numbers and 8x8")
    raw = field(data, "score")
    score = float(array_from(raw, "track score")) if isinstance(raw, dict) else need_num(raw, "score")
    ints = [
        need_int(field(data, "internal_id"), "internal_id"),
        need_int(field(data, "external_id"), "external_id"),
        _state(field(data, "state")),
        int(need_bool(field(data, "is_activated"), "is_activated")),
        need_int(field(data, "start_frame"), "start_frame"),
        need_int(field(data, "frame_id"), "track frame_id"),
        need_int(field(data, "tracklet_len"), "tracklet_len"),
    ]
    return ints, score, m, blocks(c)


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel the tracker calls, with the array types it calls them with:
    a few frames of two boxes through a throwaway tracker (entries, a miss, a re-find), before the worker takes
    traffic, so no frame's latency holds a compilation."""
    t = Tracker(10.0, TrackParams())
    box = np.array([[100.0, 100.0, 160.0, 140.0], [300.0, 200.0, 380.0, 260.0]])
    for i, n in enumerate((2, 2, 0, 1, 2, 2)):
        t.update(box[:n] + 4.0 * i, np.array([0.9, 0.2])[:n] if i == 4 else np.full(n, 0.9), np.zeros(n, np.int64))
