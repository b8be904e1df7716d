"""Root exception of the streaming stages (camera ingest, analytics)."""

from schemas.errors import ItsCameraError

__all__ = ["StreamError"]


class StreamError(ItsCameraError):
    """A streaming stage could not do its job; the message names the camera, topic or setting and the fix."""
