"""Projections: every event topic -> PostgreSQL read models and Redis caches; the query API lives in projections.api."""

from projections.errors import MigrationError, ProjectionError
from projections.migrate import migrate
from projections.projector import Projector
from projections.settings import ProjectorSettings

__all__ = ["MigrationError", "ProjectionError", "Projector", "ProjectorSettings", "migrate"]
