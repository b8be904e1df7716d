"""Root exception of the projections package."""

from schemas.errors import ItsCameraError

__all__ = ["MigrationError", "ProjectionError"]


class ProjectionError(ItsCameraError):
    """A read model could not be written or read; the message names the thing and the fix."""


class MigrationError(ProjectionError):
    """A migration file failed to apply."""
