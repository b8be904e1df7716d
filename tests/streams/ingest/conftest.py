"""Fixtures of the ingest tests: a small, cheap camera clip made from the sample clip."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.conftest import CLIP


def make_clip(
    path: Path, *, width: int, height: int, fps: int, gop: int, seconds: float, codec: str = "libx264"
) -> Path:
    """Re-encode the start of the sample clip: `gop` frames between key frames, as a camera would send it."""
    with av.open(str(CLIP)) as src, av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(gop), "keyint_min": str(gop)}
        src_rate = float(src.streams.video[0].average_rate or 30)
        step = src_rate / fps
        n, want = 0, int(seconds * fps)
        for i, frame in enumerate(src.decode(video=0)):
            if i < n * step:
                continue
            img = frame.reformat(width=width, height=height, format=stream.pix_fmt)
            img.pts = n
            img.time_base = Fraction(1, fps)
            for pkt in stream.encode(img):
                out.mux(pkt)
            n += 1
            if n >= want:
                break
        for pkt in stream.encode(None):
            out.mux(pkt)
    return path


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320x180 H.264, 10 fps, a key frame every second, 10 s: a camera that costs almost no CPU to read."""
    return make_clip(tmp_path_factory.mktemp("clips") / "small.mp4", width=320, height=180, fps=10, gop=10, seconds=10)
