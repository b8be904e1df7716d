import itertools

import pytest

from streams.ingest import FpsSampler, FrameSeq


def _kept(fps: float, times: list[float]) -> list[float]:
    s = FpsSampler(fps)
    return [t for t in times if s.accept(t)]


@pytest.mark.parametrize(
    ("src_fps", "n", "target", "expected"),
    [
        (29.97, 450, 10.0, 150),  # the highway clip: every third frame
        (30.0, 300, 10.0, 100),
        (25.0, 250, 10.0, 100),  # 25 -> 10 keeps 2 of every 5
        (10.0, 50, 10.0, 50),
        (5.0, 50, 10.0, 50),  # slower than the target: keep all, never invent frames
        (30.0, 90, 1.0, 3),
    ],
)
def test_kept_count(src_fps: float, n: int, target: float, expected: int) -> None:
    assert len(_kept(target, [i / src_fps for i in range(n)])) == expected


def test_kept_frames_are_spaced_by_the_period() -> None:
    kept = _kept(10.0, [i / 29.97 for i in range(450)])
    gaps = [b - a for a, b in itertools.pairwise(kept)]
    assert min(gaps) > 0.099 and max(gaps) < 0.1001 + 1 / 29.97


def test_zero_fps_keeps_every_frame() -> None:
    assert len(_kept(0, [i / 30 for i in range(30)])) == 30


def test_a_gap_restarts_the_schedule_without_a_burst() -> None:
    times = [i / 30 for i in range(30)] + [10 + i / 30 for i in range(30)]
    kept = _kept(10.0, times)
    assert len([t for t in kept if t >= 10]) == 10  # no catch-up burst after the 9 s gap


def test_timestamps_going_backwards_restart_the_schedule() -> None:
    times = [5 + i / 30 for i in range(30)] + [i / 30 for i in range(30)]
    assert len(_kept(10.0, times)) == 20


def test_an_anchored_sequence_jumps_with_the_clock_but_its_run_index_counts_every_frame() -> None:
    seq = FrameSeq(anchored=True)
    got = [(seq.next(ms), seq.run_start, seq.index) for ms in (1000, 1000, 1100, 5000, 4000)]
    assert got == [(1000, 1000, 0), (1001, 1000, 1), (1100, 1000, 2), (5000, 1000, 3), (5001, 1000, 4)]
    again = FrameSeq(anchored=True)  # a new run (the camera moved to another worker): a new name, counted from 0
    assert (again.next(9000), again.run_start, again.index) == (9000, 9000, 0)
