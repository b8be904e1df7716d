"""Root exception of camera ingest, and the translation of FFmpeg/network failures into causes operators act on."""

from __future__ import annotations

from streams.errors import StreamError

__all__ = ["IngestError", "SourceError", "classify"]


class IngestError(StreamError):
    """Ingest could not do its job; the message names the camera/source and the fix."""


class SourceError(IngestError):
    """A camera source could not be opened or read. `reason` is the short code put on status events."""

    def __init__(self, message: str, reason: str = "bad_stream") -> None:
        super().__init__(message)
        self.reason = reason


# (substring of the FFmpeg/OS error text, reason, what to tell the operator)
_CAUSES: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("401", "unauthorized", "403", "forbidden", "authorization"),
        "unauthorized",
        "The camera rejected the credentials; check the user and password in the source URL",
    ),
    (
        ("connection refused",),
        "refused",
        "Nothing accepts connections at that host and port: check the port and that the camera's streaming "
        "service is on",
    ),
    (
        ("timed out", "timeout", "immediate exit requested", "no route to host", "network is unreachable"),
        "unreachable",
        "The camera did not answer in time: check the host, the network path and firewalls",
    ),
    (
        ("name or service not known", "temporary failure in name resolution", "failed to resolve", "nodename"),
        "unreachable",
        "The host name does not resolve: check the spelling of the host in the source URL and DNS",
    ),
    (
        ("404", "not found", "no such file"),
        "not_found",
        "Nothing is at that path: check the path or URL (the stream path on the camera, or the file on disk)",
    ),
    (
        ("invalid data found", "no video stream", "could not find codec", "unknown", "not video"),
        "not_video",
        "The URL does not serve a video stream FFmpeg can read: check that it points at the camera's stream "
        "(not its web page) and the protocol setting",
    ),
    (
        ("end of file", "connection reset", "broken pipe", "eof"),
        "ended",
        "The camera closed the stream; it is retried with backoff",
    ),
)


def classify(error: BaseException | str) -> tuple[str, str]:
    """(reason code, advice) for a failure reading a camera, from the driver's error text.

    An OSError or FFmpeg error is read by its strerror alone: its str() repeats the URL, whose port or path may
    hold a needle ("rtsp://host:40133/cam" is not a 401)."""
    text = str(getattr(error, "strerror", None) or error).lower()
    for needles, reason, advice in _CAUSES:
        if any(n in text for n in needles):
            return reason, advice
    return "bad_stream", "The stream could not be read; check that the camera sends a standard video stream"
