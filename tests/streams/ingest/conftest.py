"""Fixtures of the ingest tests: a small, cheap camera clip made from the sample clip."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.clips import make_clip
from tests.conftest import CLIP


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320x180 H.264, 10 fps, a key frame every second, 10 s: a camera that costs almost no CPU to read."""
    out = tmp_path_factory.mktemp("clips") / "small.mp4"
    return make_clip(CLIP, out, width=320, height=180, fps=10, gop=10, seconds=10)
