"""Multi-object tracking per camera: supervision's ByteTrack, converted to our own values at the edge.

ByteTrack keeps its id counters per instance, so one camera's ids depend only on that camera's detection
sequence: a replay from the same state gives the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import supervision as sv

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
