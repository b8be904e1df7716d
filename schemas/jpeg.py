"""The image format of FrameCaptured.image (JPEG): what can be read from its header without decoding it.

Part of the FrameCaptured contract, not runtime plumbing: an event with `encoding` "jpeg" promises that `image` is
a JPEG of `width` x `height`, and both sides of that promise check it with this one parser (the ingest stage when
it passes a camera's own JPEG through, the inference stage when it validates a frame before decoding it). It
imports nothing and does no I/O, so it stays with the schema it describes.
"""

from __future__ import annotations

import struct

__all__ = ["jpeg_size"]


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's SOF marker without decoding it; None when there is none."""
    i, n = 2, len(data)
    if data[:2] != b"\xff\xd8":
        return None
    while i + 9 < n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (seglen,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + seglen
    return None
