"""Errors of the analytics stage."""

__all__ = ["AnalyticsError", "CoPartitioningError"]


class AnalyticsError(Exception):
    """Root of the analytics stage's errors."""


class CoPartitioningError(AnalyticsError):
    """Input and output topics do not share a partition count."""
