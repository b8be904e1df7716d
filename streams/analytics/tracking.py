"""Multi-object tracking per camera: supervision's ByteTrack, converted to our own values at the edge.

ByteTrack keeps its id counters per instance, so one camera's ids depend only on that camera's detection
sequence: a replay from the same state gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import supervision as sv
from supervision.tracker.byte_tracker.single_object_track import STrack, TrackState

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

__all__ = ["TrackParams", "Tracked", "Tracker"]


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
        # ByteTrack counts its lost-track buffer in frames at 30 fps; give it frames at our rate.
        self._bt = sv.ByteTrack(
            track_activation_threshold=params.activation_threshold,
            lost_track_buffer=max(1, round(params.lost_seconds * fps)),
            minimum_matching_threshold=params.matching_threshold,
            frame_rate=30,
            minimum_consecutive_frames=params.min_consecutive_frames,
        )

    def update(
        self, xyxy: npt.NDArray[np.float64], confidence: npt.NDArray[np.float64], class_id: npt.NDArray[np.int64]
    ) -> Tracked:
        dets = sv.Detections(
            xyxy=xyxy.astype(np.float32).reshape(-1, 4),
            confidence=confidence.astype(np.float32),
            class_id=class_id.astype(int),
        )
        out = self._bt.update_with_detections(dets)
        return Tracked(
            track_id=np.asarray(out.tracker_id, np.int64),
            xyxy=np.asarray(out.xyxy, np.float64).reshape(-1, 4),
            class_id=np.asarray(out.class_id if out.class_id is not None else [], np.int64),
            confidence=np.asarray(out.confidence if out.confidence is not None else [], np.float64),
        )

    def alive(self) -> set[int]:
        """Ids of tracks the tracker still follows or may still re-find."""
        return {
            int(t.external_track_id)
            for t in (*self._bt.tracked_tracks, *self._bt.lost_tracks)
            if t.external_track_id >= 0
        }

    # -- plain data (the changelog encoding, see state.py) -------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        """ByteTrack's whole state: its counters and every track it keeps (tracked, lost, and last frame's removed,
        which the next update still subtracts)."""
        bt = self._bt
        return {
            "activation_threshold": bt.track_activation_threshold,
            "matching_threshold": bt.minimum_matching_threshold,
            "det_thresh": bt.det_thresh,
            "max_time_lost": bt.max_time_lost,
            "min_consecutive_frames": bt.minimum_consecutive_frames,
            "frame_id": bt.frame_id,
            "internal_next_id": bt.internal_id_counter._id,
            "external_next_id": bt.external_id_counter._id,
            "tracked": [_track_to(t) for t in bt.tracked_tracks],
            "lost": [_track_to(t) for t in bt.lost_tracks],
            "removed": [_track_to(t) for t in bt.removed_tracks],
        }

    @classmethod
    def from_data(cls, data: Any) -> Tracker:
        self = cls.__new__(cls)
        bt = self._bt = sv.ByteTrack()
        bt.track_activation_threshold = need_num(field(data, "activation_threshold"), "activation_threshold")
        bt.minimum_matching_threshold = need_num(field(data, "matching_threshold"), "matching_threshold")
        bt.det_thresh = need_num(field(data, "det_thresh"), "det_thresh")
        bt.max_time_lost = need_int(field(data, "max_time_lost"), "max_time_lost")
        bt.minimum_consecutive_frames = need_int(field(data, "min_consecutive_frames"), "min_consecutive_frames")
        bt.frame_id = need_int(field(data, "frame_id"), "frame_id")
        bt.internal_id_counter._id = need_int(field(data, "internal_next_id"), "internal_next_id")
        bt.external_id_counter._id = need_int(field(data, "external_next_id"), "external_next_id")
        bt.tracked_tracks = [_track_from(bt, t) for t in need_list(field(data, "tracked"), "tracked tracks")]
        bt.lost_tracks = [_track_from(bt, t) for t in need_list(field(data, "lost"), "lost tracks")]
        bt.removed_tracks = [_track_from(bt, t) for t in need_list(field(data, "removed"), "removed tracks")]
        return self


def _track_to(t: STrack) -> dict[str, Any]:
    return {
        "state": t.state.value,
        "is_activated": t.is_activated,
        "start_frame": t.start_frame,
        "frame_id": t.frame_id,
        "tlwh": array_to(t._tlwh),
        "mean": None if t.mean is None else array_to(t.mean),
        "covariance": None if t.covariance is None else array_to(t.covariance),
        "has_filter": t.kalman_filter is not None,
        "score": array_to(t.score) if isinstance(t.score, np.generic | np.ndarray) else need_num(t.score),
        "tracklet_len": t.tracklet_len,
        "min_consecutive_frames": t.minimum_consecutive_frames,
        "internal_id": t.internal_track_id,
        "external_id": t.external_track_id,
    }


def _track_from(bt: sv.ByteTrack, data: Any) -> STrack:
    tlwh = array_from(field(data, "tlwh"), "track box")
    if np.shape(tlwh) != (4,):
        raise StateDecodeError("a track box is not 4 numbers")
    score_raw = field(data, "score")
    score: Any = array_from(score_raw, "track score") if isinstance(score_raw, dict) else need_num(score_raw, "score")
    t = STrack(
        tlwh,
        score,
        need_int(field(data, "min_consecutive_frames"), "min_consecutive_frames"),
        bt.shared_kalman,
        bt.internal_id_counter,
        bt.external_id_counter,
    )
    try:
        t.state = TrackState(need_int(field(data, "state"), "track state"))
    except ValueError as e:
        raise StateDecodeError(str(e)) from None
    t.is_activated = need_bool(field(data, "is_activated"), "is_activated")
    t.start_frame = need_int(field(data, "start_frame"), "start_frame")
    t.frame_id = need_int(field(data, "frame_id"), "track frame_id")
    mean, cov = field(data, "mean"), field(data, "covariance")
    t.mean = None if mean is None else array_from(mean, "track mean")
    t.covariance = None if cov is None else array_from(cov, "track covariance")
    if (t.mean is not None and np.shape(t.mean) != (8,)) or (
        t.covariance is not None and np.shape(t.covariance) != (8, 8)
    ):
        raise StateDecodeError("a track's Kalman state is not 8 numbers and 8x8")
    kf: Any = bt.kalman_filter if need_bool(field(data, "has_filter"), "has_filter") else None
    t.kalman_filter = kf
    t.tracklet_len = need_int(field(data, "tracklet_len"), "tracklet_len")
    t.internal_track_id = need_int(field(data, "internal_id"), "internal_id")
    t.external_track_id = need_int(field(data, "external_id"), "external_id")
    return t
