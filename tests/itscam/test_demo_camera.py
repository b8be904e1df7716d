"""The demo camera's counting line: the clips' ground truth read into a CountingLine whose IN is the hand count's main
direction of travel, checked against the analytics' own line counting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from itscam.demo_camera import GT_LINE_ID, ground_truth, in_direction
from schemas.cameras import camera_config
from streams.analytics import CameraAnalytics, Params
from tests.conftest import SHARED
from tests.streams.analytics.factories import Car, traffic

W, H = 1280, 720
GROUND_TRUTH = SHARED / "data" / "ground_truth.json"
_STEP = {"up": (0.0, -20.0), "down": (0.0, 20.0), "left": (-20.0, 0.0), "right": (20.0, 0.0)}


def _direction_counted(x1: float, y1: float, x2: float, y2: float, in_dir: str, motion: str) -> list[str]:
    """The directions the analytics count for one car crossing the segment's middle along `motion`."""
    line = {"line_id": "l", "x1": x1, "y1": y1, "x2": x2, "y2": y2, "in_direction": in_dir}
    cfg = camera_config("demo-line", "clip.mp4", lines=[line])
    vx, vy = _STEP[motion]
    mx, my = (x1 + x2) / 2 * W, (y1 + y2) / 2 * H
    car = Car(0, mx - 10 * vx, my - 10 * vy, vx, vy)
    st = CameraAnalytics("demo-line", Params())
    out = []
    for ev in traffic("demo-line", [car], 20):
        out += [rec["direction"] for kind, rec in st.process(ev, cfg) if kind == "vehicle"]
    return out


@pytest.mark.parametrize(
    ("segment", "motions"),
    [
        ((0.0, 0.6, 1.0, 0.6), ("up", "down")),  # drawn left to right
        ((1.0, 0.6, 0.0, 0.6), ("up", "down")),  # drawn right to left
        ((0.5, 0.1, 0.5, 0.9), ("left", "right")),  # drawn downwards
        ((0.5, 0.9, 0.5, 0.1), ("left", "right")),  # drawn upwards
        ((0.2, 0.2, 0.8, 0.8), ("up", "down", "left", "right")),  # a diagonal
    ],
)
def test_in_direction_counts_that_motion_as_in(segment: tuple[float, float, float, float], motions: tuple[str]) -> None:
    for motion in motions:
        assert _direction_counted(*segment, in_direction(*segment, motion), motion) == ["IN"], (segment, motion)


def test_a_segment_drawn_left_to_right_counts_downward_crossings_in_with_left_to_right() -> None:
    """The schema's own example (CountingLine.in_direction's doc)."""
    assert in_direction(0.0, 0.5, 1.0, 0.5, "down") == "LEFT_TO_RIGHT"
    assert in_direction(0.0, 0.5, 1.0, 0.5, "up") == "RIGHT_TO_LEFT"


def test_the_highway_clip_gets_its_hand_count_line_with_downward_in() -> None:
    hand = ground_truth(GROUND_TRUTH, "/anywhere/highway_overpass_720p.mp4")
    assert hand is not None
    assert hand.total == 24 and hand.by_direction == {"down": 24, "up": 0}
    line = hand.line
    assert line["line_id"] == GT_LINE_ID and line["name"] == "hand-count line"
    assert (line["x1"], line["y1"]) == (0.0, pytest.approx(432 / 720))
    assert (line["x2"], line["y2"]) == (pytest.approx(1279 / 1280), pytest.approx(432 / 720))
    assert line["in_direction"] == "LEFT_TO_RIGHT"
    camera_config("c", "x.mp4", lines=[line])  # a valid CountingLine


def test_the_urban_clip_counts_its_upward_majority_in() -> None:
    hand = ground_truth(GROUND_TRUTH, "urban_arterial_cctv_360p.mp4")
    assert hand is not None and hand.total == 36
    assert hand.line["in_direction"] == "RIGHT_TO_LEFT"
    assert hand.line["x1"] == pytest.approx(128 / 640) and hand.line["y1"] == pytest.approx(198 / 360)


def test_a_file_not_in_the_ground_truth_has_no_line(tmp_path: Path) -> None:
    assert ground_truth(GROUND_TRUTH, str(tmp_path / "my_own_clip.mp4")) is None
    assert ground_truth(tmp_path / "missing.json", "highway_overpass_720p.mp4") is None


def test_a_broken_entry_names_the_clip_and_the_fix(tmp_path: Path) -> None:
    gt = tmp_path / "ground_truth.json"
    gt.write_text(json.dumps({"clips": {"a.mp4": {"width": 10, "height": 10}}}))
    with pytest.raises(Exception, match=r"clip 'a.mp4' lacks .*fix the entry"):
        ground_truth(gt, "a.mp4")
