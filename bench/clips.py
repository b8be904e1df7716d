"""Camera-like variants of a clip, made with PyAV: a chosen size, frame rate, key-frame interval and codec."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

__all__ = ["make_clip"]


def make_clip(
    src: Path,
    path: Path,
    *,
    width: int,
    height: int,
    fps: float,
    gop: int,
    seconds: float,
    codec: str = "libx264",
    quality: int = 5,
) -> Path:
    """Re-encode the start of `src`: `gop` frames between key frames (as cameras let operators set it).
    `codec="mjpeg"` makes pre-encoded JPEG frames (`quality` is FFmpeg's qscale, 2 best .. 31 worst)."""
    if path.exists():
        return path
    tmp = path.with_suffix(".part" + path.suffix)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        stream: av.VideoStream = out.add_stream(codec, rate=rate)  # type: ignore[assignment]
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(gop), "keyint_min": str(gop)}
        else:
            stream.options = {"qmin": str(quality), "qmax": str(quality)}
        src_rate = float(inp.streams.video[0].average_rate or 30)
        step = src_rate / fps
        n, want = 0, int(seconds * fps)
        for i, frame in enumerate(inp.decode(video=0)):
            if i < n * step:
                continue
            img = frame.reformat(width=width, height=height, format=stream.pix_fmt)
            img.pts, img.time_base = n, 1 / rate
            for pkt in stream.encode(img):
                out.mux(pkt)
            n += 1
            if n >= want:
                break
        for pkt in stream.encode(None):
            out.mux(pkt)
    tmp.rename(path)
    return path
