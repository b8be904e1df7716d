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

from streams.analytics.bytetrack import LOST, REMOVED, TRACKED, ByteTrack, Track, assign, blocks, distance
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

__all__ = ["TrackParams", "Tracked", "Tracker", "warm_up"]


@dataclass(frozen=True)
class TrackParams:
    activation_threshold: float = 0.25
    lost_seconds: float = 1.5
    matching_threshold: float = 0.95  # see AnalyticsSettings.track_matching
    min_consecutive_frames: int = 1


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
            params.matching_threshold,
            max(1, round(params.lost_seconds * fps)),
            params.min_consecutive_frames,
        )

    def update(
        self, xyxy: npt.NDArray[np.float64], confidence: npt.NDArray[np.float64], class_id: npt.NDArray[np.int64]
    ) -> Tracked:
        boxes = xyxy.astype(np.float32).reshape(-1, 4)
        tracks = self._bt.update(boxes, confidence.astype(np.float32))
        # Each detection takes the id of the confirmed track it overlaps best (IoU >= 0.5), as supervision does.
        matches, _, _ = assign(distance(boxes, ByteTrack.boxes(tracks)), 0.5)
        ids = np.full(len(boxes), -1, np.int64)
        for i, j in matches:
            ids[i] = tracks[j].eid
        keep = ids != -1
        return Tracked(
            track_id=ids[keep],
            xyxy=boxes[keep].astype(np.float64),
            class_id=np.asarray(class_id, np.int64)[keep],
            confidence=confidence.astype(np.float32)[keep].astype(np.float64),
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
            "max_time_lost": bt.max_time_lost,
            "min_consecutive": bt.min_consecutive,
            "frame_id": bt.frame_id,
            "next_iid": bt.next_iid,
            "next_eid": bt.next_eid,
            "removed": list(bt.removed),
            "tracked": _tracks_to(bt.tracked),
            "lost": _tracks_to(bt.lost),
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
        bt.frame_id = need_int(field(data, "frame_id"), "frame_id")
        bt.next_iid = need_int(field(data, "next_iid"), "next_iid")
        bt.next_eid = need_int(field(data, "next_eid"), "next_eid")
        bt.removed = [need_int(i, "removed id") for i in need_list(field(data, "removed"), "removed")]
        bt.tracked = _tracks_from(field(data, "tracked"), "tracked", square_cov)
        bt.lost = _tracks_from(field(data, "lost"), "lost", square_cov)
        return _wrap(bt)

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
        bt.tracked = [_legacy_track(t) for t in need_list(field(data, "tracked"), "tracked tracks")]
        bt.lost = [_legacy_track(t) for t in need_list(field(data, "lost"), "lost tracks")]
        bt.removed = [
            need_int(field(t, "internal_id"), "internal_id") for t in need_list(field(data, "removed"), "removed")
        ]
        return _wrap(bt)


def _wrap(bt: ByteTrack) -> Tracker:
    self = Tracker.__new__(Tracker)
    self._bt = bt
    return self


_COLUMNS = ("iid", "eid", "state", "activated", "start_frame", "frame_id", "tracklet_len", "score")


def _tracks_to(tracks: list[Track]) -> dict[str, Any]:
    """A list of tracks as columns (one list per field, mean and covariance blocks as n x 8 and n x 4 x 3 arrays)."""
    return {
        **{c: [getattr(t, c) for t in tracks] for c in _COLUMNS},
        "mean": array_to(np.array([t.mean for t in tracks]).reshape(-1, 8)),
        "cov": array_to(np.array([t.cov for t in tracks]).reshape(-1, 4, 3)),
    }


def _tracks_from(data: Any, what: str, square_cov: bool) -> list[Track]:
    cols = {c: need_list(field(data, c), f"{what} {c}") for c in _COLUMNS}
    mean = array_from(field(data, "mean"), f"{what} mean")
    cov = array_from(field(data, "cov"), f"{what} covariance")
    n = len(cols["iid"])
    if any(len(v) != n for v in cols.values()) or np.shape(mean) != (n, 8):
        raise StateDecodeError(f"{what}: the track columns differ in length")
    if np.shape(cov) != ((n, 8, 8) if square_cov else (n, 4, 3)):
        raise StateDecodeError(f"{what}: the covariances are not one {'8x8' if square_cov else '4x3'} per track")
    out = []
    for i in range(n):
        c = blocks(cov[i]) if square_cov else np.asarray(cov[i], np.float64)
        t = Track(np.asarray(mean[i], np.float64), c, need_num(cols["score"][i]))
        t.iid = need_int(cols["iid"][i], "track iid")
        t.eid = need_int(cols["eid"][i], "track eid")
        t.state = _state(cols["state"][i])
        t.activated = need_bool(cols["activated"][i], "activated")
        t.start_frame = need_int(cols["start_frame"][i], "start_frame")
        t.frame_id = need_int(cols["frame_id"][i], "track frame_id")
        t.tracklet_len = need_int(cols["tracklet_len"][i], "tracklet_len")
        out.append(t)
    return out


def _state(v: Any) -> int:
    s = need_int(v, "track state")
    if s not in (TRACKED, LOST, REMOVED):
        raise StateDecodeError(f"track state {s} is not tracked (1), lost (2) or removed (3)")
    return s


def _legacy_track(data: Any) -> Track:
    mean, cov = field(data, "mean"), field(data, "covariance")
    if mean is None or cov is None:
        raise StateDecodeError("a kept track has no Kalman state")
    m = np.asarray(array_from(mean, "track mean"), np.float64)
    c = np.asarray(array_from(cov, "track covariance"), np.float64)
    if m.shape != (8,) or c.shape != (8, 8):
        raise StateDecodeError("a track's Kalman state is not 8 numbers and 8x8")
    raw = field(data, "score")
    score = float(array_from(raw, "track score")) if isinstance(raw, dict) else need_num(raw, "score")
    t = Track(m, blocks(c), score)
    t.state = _state(field(data, "state"))
    t.activated = need_bool(field(data, "is_activated"), "is_activated")
    t.start_frame = need_int(field(data, "start_frame"), "start_frame")
    t.frame_id = need_int(field(data, "frame_id"), "track frame_id")
    t.tracklet_len = need_int(field(data, "tracklet_len"), "tracklet_len")
    t.iid = need_int(field(data, "internal_id"), "internal_id")
    t.eid = need_int(field(data, "external_id"), "external_id")
    return t


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel the tracker calls, with the array types it calls them with:
    a few frames of two boxes through a throwaway tracker (entries, a miss, a re-find), before the worker takes
    traffic, so no frame's latency holds a compilation."""
    t = Tracker(10.0, TrackParams())
    box = np.array([[100.0, 100.0, 160.0, 140.0], [300.0, 200.0, 380.0, 260.0]])
    for i, n in enumerate((2, 2, 0, 1, 2, 2)):
        t.update(box[:n] + 4.0 * i, np.array([0.9, 0.2])[:n] if i == 4 else np.full(n, 0.9), np.zeros(n, np.int64))
