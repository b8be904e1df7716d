"""Camera ingest: read a source, sample to a target fps, JPEG-encode, produce FrameCaptured."""

from streams.ingest.errors import IngestError, SourceError
from streams.ingest.sampler import FpsSampler
from streams.ingest.settings import IngestSettings
from streams.ingest.source import is_live, open_frames, redact
from streams.ingest.worker import IngestResult, IngestWorker, camera_id_for

__all__ = [
    "FpsSampler",
    "IngestError",
    "IngestResult",
    "IngestSettings",
    "IngestWorker",
    "SourceError",
    "camera_id_for",
    "is_live",
    "open_frames",
    "redact",
]
