"""Root exception of the inference package."""

from schemas.errors import ItsCameraError

__all__ = ["BadFrameError", "InferenceError", "ModelLoadError"]


class InferenceError(ItsCameraError):
    """Something in the inference stage failed; the message names the thing and the fix."""


class ModelLoadError(InferenceError):
    """The model file is missing or cannot be loaded by the chosen backend."""


class BadFrameError(InferenceError):
    """A frame cannot be turned into detections (a corrupt JPEG, an image above the limit, a frame the model
    raises on). The frame goes to the DLQ with `reason` as its error type."""

    def __init__(self, message: str, reason: str = "bad-frame") -> None:
        super().__init__(message)
        self.reason = reason
