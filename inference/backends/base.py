"""The interface every model backend implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Backend"]


class Backend(Protocol):
    """Runs a YOLO11 detection graph: NCHW float32 RGB [0, 1] in, [N, 4 + nc, anchors] out."""

    name: str
    model_path: str
    sha256: str
    class_names: list[str]

    def run(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...
