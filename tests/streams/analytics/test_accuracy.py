"""Counting accuracy of the real pipeline against hand counts: every clip of the data folder (../shared/data, or
ITS_DATA_DIR) through ingest (paced like a camera) -> inference -> analytics on the real Kafka, at the default
sampling fps and model size, with the clip's ground-truth line as the camera's counting line and two approach zones
either side of it (turning movements)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.counting import load_clips, run_pipeline
from tests.conftest import SHARED

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DATA = Path(os.environ.get("ITS_DATA_DIR") or SHARED / "data")


def test_line_counts_are_within_ten_percent_of_the_hand_counts_in_the_right_direction(bootstrap: str) -> None:
    clips = load_clips(DATA)
    run = run_pipeline(clips, bootstrap, fps=10.0, imgsz=640, with_approaches=True)
    report = [
        f"{c.name}: ours {run.ours[c.name]} {run.ours_by_direction[c.name]}, hand {c.truth} {c.truth_by_direction}, "
        f"movements {run.movements[c.name]}"
        for c in clips
    ]
    print("\n".join(report))
    for c in clips:
        assert run.frames[c.name] > 0, c.name
        assert abs(run.ours[c.name] - c.truth) <= 0.1 * c.truth, report
        for direction, truth in c.truth_by_direction.items():
            # each direction within 10 % (at least one vehicle of slack for a direction with a single crossing)
            assert abs(run.ours_by_direction[c.name][direction] - truth) <= max(1.0, 0.1 * truth), report

    # Turning movements between the zones either side of each line are the line's directional counts.
    for c in clips:
        moves = run.movements[c.name]
        assert moves.get("north>south", 0) == run.ours_by_direction[c.name]["down"], report
        assert moves.get("south>north", 0) == run.ours_by_direction[c.name]["up"], report
        assert set(moves) <= {"north>south", "south>north"}, report
