"""`itscam bench counting` reads any clip folder in ../shared/data's format; bad folders are named with the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.counting import load_clips
from tests.conftest import SHARED


def test_the_shared_clips_load_with_their_lines_and_hand_counts() -> None:
    clips = {c.name: c for c in load_clips(SHARED / "data")}
    hw = clips["highway_overpass_720p.mp4"]
    assert (hw.width, hw.height, hw.line, hw.truth) == (1280, 720, ((0, 432), (1279, 432)), 24)
    assert hw.truth_by_direction == {"up": 0, "down": 24, "left": 0, "right": 0}


def test_a_new_clip_folder_needs_no_code(tmp_path: Path) -> None:
    shutil.copy(SHARED / "data" / "urban_arterial_cctv_360p.mp4", tmp_path / "mine.mp4")
    gt = {
        "clips": {
            "mine.mp4": {
                "width": 640,
                "height": 360,
                "line": {"p0": [0, 100], "p1": [639, 100]},
                "counts": {"total": 3, "by_direction": {"left": 3}},
            }
        }
    }
    (tmp_path / "ground_truth.json").write_text(json.dumps(gt))
    (clip,) = load_clips(tmp_path)
    assert (clip.name, clip.truth, clip.truth_by_direction["left"]) == ("mine.mp4", 3, 3)


def test_a_folder_without_ground_truth_or_with_a_missing_clip_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"needs clips and a ground_truth\.json"):
        load_clips(tmp_path)
    gt = {
        "clips": {"gone.mp4": {"width": 1, "height": 1, "line": {"p0": [0, 0], "p1": [1, 1]}, "counts": {"total": 0}}}
    }
    (tmp_path / "ground_truth.json").write_text(json.dumps(gt))
    with pytest.raises(FileNotFoundError, match=r"lists gone\.mp4, but .*gone\.mp4 does not exist"):
        load_clips(tmp_path)
