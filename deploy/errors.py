"""Root exception of the composition (the itscam command, the local stack, the Kubernetes tooling)."""

from schemas.errors import ItsCameraError

__all__ = ["DeployError"]


class DeployError(ItsCameraError):
    """A command cannot run as asked, or a tool or service it needs is missing; the message says what to do."""
