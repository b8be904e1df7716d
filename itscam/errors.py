"""Root exception of the command line (what `itscam` itself refuses, as opposed to what a package it runs raises)."""

from schemas.errors import ItsCameraError

__all__ = ["CliError"]


class CliError(ItsCameraError):
    """A command cannot run as asked; the message says what to pass instead."""
