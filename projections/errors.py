"""Root exception of the projections package."""

__all__ = ["MigrationError", "ProjectionError"]


class ProjectionError(Exception):
    """A read model could not be written or read; the message names the thing and the fix."""


class MigrationError(ProjectionError):
    """A migration file failed to apply."""
