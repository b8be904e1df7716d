"""The degraded-conditions suite (`itscam bench counting --conditions`): each condition does to the picture what it
says, the same way every run, and a degraded clip keeps the clip's line where the picture put it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from bench.conditions import CONDITIONS, SETTINGS, degrade, degraded_clip
from bench.counting import load_clips
from tests.conftest import SHARED


def _scene(seed: int = 0) -> npt.NDArray[np.uint8]:
    """A grey road with a few bright boxes (vehicles) and some texture."""
    rng = np.random.default_rng(seed)
    img = np.full((360, 640, 3), 110, np.uint8)
    img += rng.integers(0, 20, img.shape, dtype=np.uint8)
    for x, y in ((100, 200), (300, 120), (480, 260)):
        img[y : y + 40, x : x + 70] = 220
    return img


def _apply(condition: str, img: npt.NDArray[np.uint8], i: int = 0, seed: int = 1) -> npt.NDArray[np.uint8]:
    fn = degrade(condition, np.random.default_rng(seed), img.shape)
    assert fn is not None
    return fn(img, i)


def test_every_condition_is_described_and_the_frame_level_ones_change_the_picture() -> None:
    assert set(SETTINGS) == set(CONDITIONS) and len(CONDITIONS) == 8
    img = _scene()
    for c in ("rain", "jpeg30", "lowlight", "blur", "noise"):
        out = _apply(c, img)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - img).mean() > 1.0, c
    for c in ("clean", "fps5", "360p"):  # not a per-frame change: the clip, its sampling or its size
        assert degrade(c, np.random.default_rng(0), img.shape) is None
    with pytest.raises(ValueError, match="known"):
        degrade("fog", np.random.default_rng(0), img.shape)


def test_conditions_do_what_they_say() -> None:
    img = _scene()
    f = img.astype(float)
    assert _apply("lowlight", img).mean() < 0.4 * f.mean()  # gamma 2.5, gain 0.5
    noisy = _apply("noise", img).astype(float) - f
    assert 10 < noisy.std() < 14  # sigma 12 (clipping trims a little)
    blurred = _apply("blur", img).astype(float)
    assert np.abs(np.diff(blurred, axis=0)).mean() < 0.5 * np.abs(np.diff(f, axis=0)).mean()  # vertical smear
    rain = _apply("rain", img).astype(float)
    assert rain.std() < f.std() * 1.5 and rain.mean() > f.mean() + 20  # veiled and brighter: haze, spray, streaks
    assert 0 < np.abs(_apply("jpeg30", img).astype(float) - f).mean() < 10


def test_conditions_are_the_same_every_run_and_rain_falls() -> None:
    img = _scene()
    for c in ("rain", "noise"):
        assert np.array_equal(_apply(c, img, seed=3), _apply(c, img, seed=3)), c
    a, b = _apply("rain", img, 0), _apply("rain", img, 1)
    assert not np.array_equal(a, b)  # new streaks every frame


def test_a_degraded_clip_is_written_once_with_its_line_scaled(tmp_path: Path) -> None:
    highway = next(c for c in load_clips(SHARED / "data") if c.height == 720)
    small = degraded_clip(highway, "360p", tmp_path, seconds=0.5)
    assert (small.width, small.height) == (640, 360) and small.truth == highway.truth
    assert small.line == (
        (highway.line[0][0] / 2, highway.line[0][1] / 2),
        (highway.line[1][0] / 2, highway.line[1][1] / 2),
    )
    with av.open(str(small.path)) as f:
        frames = [fr.to_ndarray(format="bgr24") for fr in f.decode(video=0)]
    assert len(frames) == 15 and frames[0].shape == (360, 640, 3)  # 0.5 s of a 30 fps clip
    mtime = small.path.stat().st_mtime_ns
    assert degraded_clip(highway, "360p", tmp_path, seconds=0.5).path.stat().st_mtime_ns == mtime
    assert degraded_clip(highway, "clean", tmp_path) is highway  # the whole clip, as shared


def test_the_short_suite_counts_a_noisy_clip_through_the_pipeline_beside_the_peer(
    bootstrap: str, tmp_path: Path
) -> None:
    """`make test`'s short form of `--conditions`: 12 s of the urban clip under sensor noise through ingest,
    inference and analytics, and Ultralytics' ObjectCounter on the same frames; the hand count of those 12 s is
    the ground truth's crossing frames before 12 s (8 upward)."""
    import json

    from bench.counting import measure
    from tests.conftest import MODEL

    urban = next(c for c in load_clips(SHARED / "data") if c.name.startswith("urban"))
    gt = json.loads((SHARED / "data" / "ground_truth.json").read_text())["clips"][urban.name]
    window = 12.0
    truth = sum(f < window * gt["fps"] for fs in gt["crossing_frames_approx"].values() for f in fs)
    assert truth == 8
    noisy = replace(degraded_clip(urban, "noise", tmp_path, seconds=window), truth=truth)
    res = measure([noisy], bootstrap, 10.0, 640, str(MODEL), peer=True)
    (row,) = res["clips"]
    assert row["frames"] >= 0.9 * window * 10
    assert abs(row["ours"] - truth) <= 1, row
    assert isinstance(row["peer"], int), row
