"""Reading a JPEG's size from its header (schemas/jpeg.py)."""

import cv2
import numpy as np

from schemas.jpeg import jpeg_size


def _jpeg(w: int, h: int) -> bytes:
    return bytes(cv2.imencode(".jpg", np.zeros((h, w, 3), np.uint8))[1].tobytes())


def test_jpeg_size_reads_the_sof_marker() -> None:
    assert jpeg_size(_jpeg(640, 360)) == (640, 360)
    assert jpeg_size(_jpeg(1, 1)) == (1, 1)
    assert jpeg_size(_jpeg(4000, 8)) == (4000, 8)
    assert jpeg_size(b"not a jpeg") is None
    assert jpeg_size(b"\xff\xd8\xff") is None
    assert jpeg_size(b"") is None
