"""The project's root exception, and the root exception of the contracts package.

Every package has one root error under ItsCameraError (SchemaError here, EventBusError, StreamError, InferenceError,
ProjectionError, DeployError, CliError), each message naming the thing and the fix; `itscam` prints any of them
without a traceback and exits 2. It lives here because schemas/ is the one package every other may import.
"""

__all__ = ["ItsCameraError", "SchemaError", "UnknownSchemaError"]


class ItsCameraError(Exception):
    """Root of every error this project raises on purpose; the message says what to do."""


class SchemaError(ItsCameraError):
    """A payload or schema does not follow our contracts."""


class UnknownSchemaError(SchemaError):
    """A single-object-encoded payload names a writer schema we do not know."""
