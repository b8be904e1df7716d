"""Errors of the analytics stage."""

from streams.errors import StreamError

__all__ = ["AnalyticsError", "CoPartitioningError"]


class AnalyticsError(StreamError):
    """Root of the analytics stage's errors."""


class CoPartitioningError(AnalyticsError):
    """Input and output topics do not share a partition count."""
