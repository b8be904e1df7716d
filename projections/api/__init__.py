"""The Starlette query API over the projections' read models."""

from projections.api.app import create_app
from projections.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
