"""Root exception of the inference package."""

__all__ = ["BadFrameError", "InferenceError", "ModelLoadError"]


class InferenceError(Exception):
    """Something in the inference stage failed; the message names the thing and the fix."""


class ModelLoadError(InferenceError):
    """The model file is missing or cannot be loaded by the chosen backend."""


class BadFrameError(InferenceError):
    """A frame cannot be turned into a model input (e.g. a corrupt JPEG). The frame goes to the DLQ."""
