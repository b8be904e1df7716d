"""Root exception of the local stack."""

__all__ = ["StackError"]


class StackError(Exception):
    """A local-stack service could not be installed, started or reached; the message says what to do."""
