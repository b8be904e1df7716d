"""Root exception of camera ingest."""

__all__ = ["IngestError", "SourceError"]


class IngestError(Exception):
    """Ingest could not do its job; the message names the camera/source and the fix."""


class SourceError(IngestError):
    """A camera source could not be opened or read."""
