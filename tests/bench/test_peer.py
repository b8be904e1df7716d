"""The peer baseline of `itscam bench counting` (Ultralytics' ObjectCounter) on a real clip: its direction mapping."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.peer import DIRECTIONS, count_with_ultralytics  # sets YOLO_OFFLINE before Ultralytics is imported

pytest.importorskip("ultralytics", reason="the model toolchain (Ultralytics, torch) is missing: make install-export")

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"  # tests/bench/ -> the repo -> ../shared
MODELS = Path(os.environ.get("ITS_MODELS_DIR") or SHARED / "models")
DATA = Path(os.environ.get("ITS_DATA_DIR") or SHARED / "data")


def _frames(clip: Path, n: int, step: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames: list[np.ndarray] = []
    try:
        for i in range(n):
            ok, frame = cap.read()
            if not ok:
                break
            if i % step == 0:
                frames.append(frame)
    finally:
        cap.release()
    return frames


def test_highway_crossings_are_all_down() -> None:
    """Frames 0-149 of the highway clip, every 3rd (10 fps): all its crossings (8 by hand) go down across y = 432.

    ObjectCounter calls a downward crossing of a horizontal line IN: the peer must report every one as "down".
    """
    model, clip = MODELS / "yolo11n.onnx", DATA / "highway_overpass_720p.mp4"
    assert model.is_file(), f"{model} not found (set ITS_MODELS_DIR)"
    assert clip.is_file(), f"{clip} not found (set ITS_DATA_DIR)"
    frames = _frames(clip, 150, 3)
    assert len(frames) == 50

    peer = count_with_ultralytics(model, frames, ((0, 432), (1279, 432)))

    assert set(peer.by_direction) == set(DIRECTIONS)
    assert peer.by_direction["down"] == peer.total >= 3, peer
    assert sum(peer.by_class.values()) == peer.total
    assert peer.seconds > 0
