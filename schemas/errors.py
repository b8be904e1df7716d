"""Root exception of the contracts package."""

__all__ = ["SchemaError", "UnknownSchemaError"]


class SchemaError(Exception):
    """A payload or schema does not follow our contracts."""


class UnknownSchemaError(SchemaError):
    """A single-object-encoded payload names a writer schema we do not know."""
