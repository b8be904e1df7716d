"""Root exception of deploy/ (the local stack, the Kubernetes tooling)."""

from schemas.errors import ItsCameraError

__all__ = ["DeployError"]


class DeployError(ItsCameraError):
    """A deployment tool cannot run as asked, or a tool or service it needs is missing; the message says what to do."""
