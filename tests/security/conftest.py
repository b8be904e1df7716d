"""The security suite's fixtures: the API settings on the local stack are the API tests' own."""

from tests.projections.api.conftest import api_settings

__all__ = ["api_settings"]
