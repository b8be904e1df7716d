"""Camera ingest: follow the camera registry, read each camera, sample it, JPEG-encode, produce FrameCaptured,
and report camera health (CameraStatusChanged)."""

from streams.ingest.backoff import Backoff
from streams.ingest.camera import CameraRunner, RunnerContext
from streams.ingest.errors import IngestError, SourceError
from streams.ingest.fleet import IngestFleet
from streams.ingest.frames import DecodedFrame
from streams.ingest.sampler import FpsSampler, FrameSeq
from streams.ingest.settings import IngestSettings
from streams.ingest.source import SourceSpec, is_live, open_frames, open_source, redact
from streams.ingest.status import StatusTracker
from streams.ingest.worker import IngestResult, IngestWorker, camera_id_for

__all__ = [
    "Backoff",
    "CameraRunner",
    "DecodedFrame",
    "FpsSampler",
    "FrameSeq",
    "IngestError",
    "IngestFleet",
    "IngestResult",
    "IngestSettings",
    "IngestWorker",
    "RunnerContext",
    "SourceError",
    "SourceSpec",
    "StatusTracker",
    "camera_id_for",
    "is_live",
    "open_frames",
    "open_source",
    "redact",
]
