"""Root exception of the local stack."""

from deploy.errors import DeployError

__all__ = ["StackError"]


class StackError(DeployError):
    """A local-stack service could not be installed, started or reached; the message says what to do."""
