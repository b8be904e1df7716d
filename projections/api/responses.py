"""Typed models of the API's answers: the OpenAPI document's response components are generated from them.

The hot handlers write their JSON straight from PostgreSQL rows and Redis hashes, so these models describe rather
than build those answers; schemathesis (tests/projections/api/test_schemathesis.py) checks real answers against
them. The camera bodies are schemas.camera_model's, the CameraConfig contract itself.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from schemas.camera_model import CameraConfig

__all__ = [
    "Accepted",
    "AcceptedDelete",
    "AnalyticsState",
    "AuditEntry",
    "AuditPage",
    "Camera",
    "CameraPage",
    "CameraStatus",
    "Counts",
    "CountsBucket",
    "CountsToday",
    "Detection",
    "DetectionCounts",
    "Fleet",
    "FrameDetections",
    "Incident",
    "IncidentPage",
    "Live",
    "LiveFrame",
    "Movements",
    "Problem",
    "StatsPage",
    "StatsWindow",
    "VehicleEvent",
    "VehicleEventPage",
]

Cursor = Annotated[str | None, Field(description="Pass as `cursor` for the next page; null on the last page.")]
ByClass = dict[str, int]
#: `X | Omitted = None`: a member the answer may leave out (documented as not required, never as null)
Omitted = SkipJsonSchema[None]


class _Answer(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class InvalidParam(_Answer):
    name: str
    reason: str


class Problem(_Answer):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str
    invalid_params: list[InvalidParam] | Omitted = None


class Accepted(_Answer):
    accepted: CameraConfig


class Deleted(_Answer):
    camera_id: str
    deleted: Literal[True]
    purged: bool = Field(False, description="true for ?purge=true: the camera's rows and Redis keys go too.")


class AcceptedDelete(_Answer):
    accepted: Deleted


class CameraStatus(_Answer):
    camera_id: str
    status: str = Field(description="ONLINE | DEGRADED | OFFLINE | DISABLED")
    previous: str | None
    reason: str
    error: str | None
    changed_at: datetime
    last_frame_at: datetime | None
    measured_fps: float
    target_fps: float
    width: int | None
    height: int | None
    reconnects: int
    frames_produced: int
    frames_dropped: int
    worker: str
    source: str


#: the projector's live status document: CameraStatus's fields, any of them absent
LiveStatus = create_model(
    "LiveStatus",
    __base__=_Answer,
    **{name: (f.annotation | Omitted, None) for name, f in CameraStatus.model_fields.items()},  # type: ignore[call-overload]
)


class AnalyticsState(_Answer):
    status: str = Field(
        description="OK | DEGRADED (detections behind what the camera sends by more than degraded_after_s: "
        "inference is falling behind, frames may expire unprocessed) | UNKNOWN (no ingest status yet)"
    )
    lag_s: float | None = Field(
        description="Seconds between the newest detections projected (capture time) and now, or the camera's last "
        "frame when it is not sending."
    )
    degraded_after_s: float = Field(description="ITS_API_DEGRADED_LAG_S.")


class Camera(_Answer):
    camera_id: str
    name: str | None
    source_url: str | None = Field(description="Credentials (user:password@) are redacted.")
    protocol: str | None
    target_fps: float | None
    enabled: bool | None
    config: dict[str, Any] | None = Field(description="The CameraConfig applied (redacted).")
    config_updated_at: datetime | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    last_frame_seq: int | None
    frames: int
    detections: int
    last_projected_at: datetime | None = None
    status: CameraStatus | None
    analytics: AnalyticsState


class CameraPage(_Answer):
    items: list[Camera]
    next_cursor: Cursor


class Detection(_Answer):
    class_id: int
    class_name: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


class LiveFrame(_Answer):
    """The latest frame's detections (the projector's live document)."""

    camera_id: str
    frame_seq: int
    captured_at: datetime
    produced_at: datetime | Omitted = None
    width: int | Omitted = None
    height: int | Omitted = None
    model: dict[str, Any] | Omitted = None
    detections: list[Detection]


class LineCounts(_Answer):
    in_: int = Field(alias="IN")
    out: int = Field(alias="OUT")


class Totals(_Answer):
    """Vehicles counted, in all, by direction and by class."""

    vehicles: int
    in_: int = Field(alias="IN")
    out: int = Field(alias="OUT")
    by_class: ByClass


class CountsToday(Totals):
    day: date
    by_line: dict[str, LineCounts]


class Live(_Answer):
    camera_id: str
    frame: LiveFrame | None
    status: LiveStatus | None
    counts_today: CountsToday


class LineTotals(Totals):
    """One counting line's vehicles: in all, by direction, by class, and their mean speed (null: none measured)."""

    mean_speed_kmh: float | None


class CountsTotals(Totals):
    lines: dict[str, LineTotals] = Field(description="The same per counting line (line_id).")


class CountsBucket(CountsTotals):
    start: datetime
    end: datetime
    mean_speed_kmh: float | None


class _Range(_Answer):
    camera_id: str
    from_: datetime = Field(alias="from")
    to: datetime


class Counts(_Range):
    bucket: str
    filters: dict[str, str]
    buckets: list[CountsBucket] = Field(description="Buckets with vehicles, oldest first; empty buckets are left out.")
    totals: CountsTotals


#: origin zone id -> destination zone id -> vehicles
Matrix = dict[str, dict[str, int]]


class MovementTotals(_Answer):
    vehicles: int
    matrix: Matrix = Field(description="Origin approach zone id -> destination approach zone id -> vehicles.")
    by_class: ByClass


class MovementBucket(MovementTotals):
    start: datetime
    end: datetime


class Movements(_Range):
    """Turning movements: the origin-destination matrix of a camera's approach zones per time bucket."""

    bucket: str
    filters: dict[str, str]
    approaches: dict[str, str] = Field(description="Approach zone id -> its name (the camera's zones, and any seen).")
    buckets: list[MovementBucket] = Field(description="Buckets with movements, oldest first; empty ones are left out.")
    totals: MovementTotals


class DetectionBucket(_Answer):
    start: datetime
    end: datetime
    frames: int
    counts: ByClass


class DetectionTotals(_Answer):
    frames: int
    counts: ByClass


class DetectionCounts(_Range):
    bucket: str
    buckets: list[DetectionBucket]
    totals: DetectionTotals


class VehicleEvent(_Answer):
    event_id: str
    camera_id: str
    line_id: str
    line_name: str | Omitted = None
    track_id: int | Omitted = None
    direction: str = Field(description="IN | OUT")
    motion: str | Omitted = None
    class_name: str
    class_id: int | Omitted = None
    confidence: float | Omitted = None
    frame_seq: int | Omitted = None
    crossed_at: datetime
    x: float | Omitted = None
    y: float | Omitted = None
    speed_kmh: float | None = None


class VehicleEventPage(_Answer):
    items: list[VehicleEvent]
    next_cursor: Cursor


class LineCount(_Answer):
    line_id: str
    class_name: str
    direction: str
    count: int


class StatsWindow(_Answer):
    camera_id: str
    window_start: datetime
    window_end: datetime
    frames: int
    vehicles: int
    mean_speed_kmh: float | None = None
    speed_samples: int | Omitted = None
    mean_occupancy: float | Omitted = None
    late_frames: int | Omitted = None
    closed_by: str | Omitted = None
    missing_frames: int = Field(
        0,
        description="Frames of the window that never reached analytics (expired from the frames topic while "
        "inference was behind, or dead-lettered upstream); a window with frames 0 and missing_frames > 0 is a "
        "minute whose every frame was lost.",
    )
    stale_frames: int = Field(
        0, description="Frames counted from detections produced more than ITS_ANALYTICS_STALE_FRAME_S after capture."
    )
    complete: bool = Field(
        True,
        description="False when missing_frames or stale_frames is not 0: the counts are not the minute's whole "
        "live traffic (do not bill or enforce on them as final).",
    )
    counts: list[LineCount]


class StatsPage(_Range):
    items: list[StatsWindow]
    next_cursor: Cursor


class Incident(_Answer):
    incident_id: str
    camera_id: str
    type: str
    state: str = Field(description="OPEN | CLOSED")
    started_at: datetime
    ended_at: datetime | None
    track_id: int | None = None
    class_name: str | None = None
    line_id: str | None = None
    zone_id: str | None = None
    value: float | None = None
    detail: str


class IncidentPage(_Answer):
    items: list[Incident]
    next_cursor: Cursor


class Fleet(_Answer):
    cameras: int
    by_status: ByClass
    vehicles_today: int
    open_incidents: int
    frames_last_hour: int
    at: datetime | Omitted = None


class AuditEntry(_Answer):
    id: int
    at: datetime
    key_id: str | None
    method: str
    path: str
    route: str | None = None
    query: str | Omitted = None
    status: int
    duration_ms: float
    client: str | None = None
    request_id: str


class AuditPage(_Answer):
    items: list[AuditEntry]
    next_cursor: Cursor


class Frame(_Answer):
    camera_id: str
    frame_seq: int
    captured_at: datetime
    detections: list[Detection]


class FrameDetections(_Answer):
    items: list[Frame]
