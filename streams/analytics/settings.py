"""Settings of the analytics deployable, read from the environment (prefix ITS_ANALYTICS_)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eventbus.settings import DeployableSettings, metrics_port_field
from schemas.topics import CAMERA_STATUS, CAMERAS, DETECTIONS, DLQ, INCIDENTS, MOVEMENTS, TRAFFIC_STATS, VEHICLE_EVENTS
from streams.analytics.camera import Params
from streams.analytics.geometry import Anchor
from streams.analytics.tracking import TrackParams

__all__ = ["AnalyticsSettings"]


class AnalyticsSettings(DeployableSettings):
    """Detections -> tracks, line counts, speeds, incidents and 1-minute statistics (Faust, exactly-once)."""

    model_config = SettingsConfigDict(env_prefix="ITS_ANALYTICS_")
    renamed: ClassVar[Mapping[str, str]] = {
        "ITS_ANALYTICS_TOPIC_DETECTIONS": "detections_topic",
        "ITS_ANALYTICS_TOPIC_STATUS": "camera_status_topic",
        "ITS_ANALYTICS_TOPIC_CAMERAS": "cameras_topic",
        "ITS_ANALYTICS_TOPIC_VEHICLE_EVENTS": "vehicle_events_topic",
        "ITS_ANALYTICS_TOPIC_TRAFFIC_STATS": "traffic_stats_topic",
        "ITS_ANALYTICS_TOPIC_INCIDENTS": "incidents_topic",
        "ITS_ANALYTICS_TOPIC_DLQ": "dlq_topic",
        "ITS_ANALYTICS_COMMIT_INTERVAL": "commit_interval_s",
        "ITS_ANALYTICS_CAMERA_SYNC_TIMEOUT": "camera_sync_timeout_s",
        "ITS_ANALYTICS_TRACK_LOST_SECONDS": "track_lost_s",
        "ITS_ANALYTICS_SPEED_HORIZON": "speed_horizon_s",
        "ITS_ANALYTICS_WINDOW_SECONDS": "window_s",
        "ITS_ANALYTICS_STOP_SECONDS": "stop_s",
        "ITS_ANALYTICS_CONGESTION_WINDOW": "congestion_window_s",
    }

    app_id: str = Field(
        "its-analytics",
        description="Faust application id: the consumer group, the transactional ids and the changelog topic prefix.",
    )
    detections_topic: str = Field(DETECTIONS.name, description="Input: DetectionsProduced.")
    camera_status_topic: str = Field(
        CAMERA_STATUS.name, description="Input: CameraStatusChanged (camera-offline incidents)."
    )
    cameras_topic: str = Field(CAMERAS.name, description="Input: CameraConfig (lines, zones, calibration).")
    vehicle_events_topic: str = Field(VEHICLE_EVENTS.name, description="Output: VehicleCounted.")
    traffic_stats_topic: str = Field(TRAFFIC_STATS.name, description="Output: TrafficStatsWindow.")
    incidents_topic: str = Field(INCIDENTS.name, description="Output: IncidentDetected.")
    movements_topic: str = Field(MOVEMENTS.name, description="Output: TurningMovement.")
    dlq_topic: str = Field(DLQ.name, description="Dead letters: poison, unknown or removed camera, late frames.")
    data_dir: Path = Field(Path(".stack/analytics"), description="Faust data directory (RocksDB tables).")
    worker_name: str = Field("", description="This worker's folder under data_dir; default: <host>-<pid>.")
    metrics_port: int = metrics_port_field(9105)
    commit_interval_s: float = Field(1.0, gt=0, description="Seconds between transaction commits (exactly-once).")
    camera_sync_timeout_s: float = Field(
        5.0, ge=0, description="Seconds to wait for the camera topic to catch up before a camera is called unknown."
    )

    classes: str = Field(
        "bicycle,car,motorcycle,bus,truck", description="Detection classes tracked and counted (comma-separated)."
    )
    anchor: Anchor = Field(
        Anchor.CENTER, description="Box point that crosses lines: center, bottom_center, top_center."
    )
    line_band: float = Field(
        0.01, ge=0, lt=0.5, description="Share of the frame height an anchor must clear a line by (against jitter)."
    )
    track_activation: float = Field(
        0.25, gt=0, lt=1, description="ByteTrack: detections above it are high (first association), below it low."
    )
    track_new: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="ByteTrack: confidence a detection needs to start a track. Ultralytics' YOLO tracker config: "
        "0.25; supervision's activation + 0.1 (0.35) let vehicles seen only faintly (rain, blur, dusk) go uncounted.",
    )
    track_lost_s: float = Field(1.5, gt=0, description="ByteTrack: seconds a lost track can be re-found.")
    track_matching: float = Field(
        0.0,
        ge=0,
        le=1,
        description="ByteTrack: largest 1 - IoU cost still matched; 0: by the camera's rate, 0.8 (ByteTrack's "
        "own, for 30 fps) to 0.95 at 10 fps and below, linear in the frame interval between (tracking.py). Sampled "
        "sparsely a vehicle's boxes in consecutive frames overlap far less; sampled densely a loose threshold joins "
        "neighbours' boxes (0.95 at 30 fps counted 45 of 36 on the urban clip, 0.8 counted 37).",
    )
    track_unconfirmed: float = Field(
        0.0,
        ge=0,
        le=1,
        description="ByteTrack: largest 1 - IoU cost at which a track seen once is matched to its second detection; "
        "0: by the camera's rate, 0.7 (ByteTrack's own) at 10 fps and above to 0.9 at 5 fps and below, linear in the "
        "frame interval between (tracking.py). At 5 fps a car moves most of its length between two samples and "
        "0.7 drops its track before it is confirmed.",
    )
    speed_horizon_s: float = Field(1.0, gt=0, description="Seconds of track history a speed is measured over.")
    window_s: float = Field(60.0, gt=0, description="Seconds of the tumbling statistics window.")
    stop_speed_kmh: float = Field(5.0, ge=0, description="Below this a calibrated vehicle is stopped.")
    stop_rate: float = Field(
        0.01, ge=0, description="Uncalibrated cameras: below this many frame widths/heights per second, stopped."
    )
    stop_s: float = Field(30.0, gt=0, description="Stopped in a 'stop' zone this long: an incident.")
    congestion_threshold: float = Field(0.5, gt=0, le=1, description="Mean occupancy that is congestion.")
    congestion_window_s: float = Field(60.0, gt=0, description="Seconds occupancy is averaged over for congestion.")
    congestion_release: float = Field(
        0.8, gt=0, le=1, description="Congestion ends below threshold x this (hysteresis)."
    )
    stale_frame_s: float = Field(
        30.0,
        ge=0,
        description="A frame whose detections were produced more than this many seconds after capture "
        "(produced_at - captured_at, from the event) is stale: counted, its window marked incomplete; 0: never.",
    )

    def params(self) -> Params:
        return Params(
            classes=frozenset(c.strip() for c in self.classes.split(",") if c.strip()),
            anchor=self.anchor,
            line_band=self.line_band,
            track=TrackParams(
                activation_threshold=self.track_activation,
                new_track_threshold=self.track_new,
                lost_seconds=self.track_lost_s,
                matching_threshold=self.track_matching or None,
                unconfirmed_threshold=self.track_unconfirmed or None,
            ),
            speed_horizon=self.speed_horizon_s,
            window=self.window_s,
            stop_speed_kmh=self.stop_speed_kmh,
            stop_rate=self.stop_rate,
            stop_seconds=self.stop_s,
            congestion_threshold=self.congestion_threshold,
            congestion_window=self.congestion_window_s,
            congestion_release=self.congestion_release,
            stale_s=self.stale_frame_s,
        )
