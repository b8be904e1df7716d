"""Every camera protocol through the production reader, each against a real server on loopback fed from the
sample clip (GStreamer's RTSP server, an MJPEG HTTP server, HLS segments made by FFmpeg, an aiortc WHEP endpoint)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.ingest.errors import SourceError
from streams.ingest.frames import DecodedFrame
from streams.ingest.source import ReadStats, SourceSpec, open_source
from tests.conftest import CLIP
from tests.servers import HlsServer, MjpegServer, RtspServer


def take(spec: SourceSpec, n: int, timeout: float = 20.0, stats: ReadStats | None = None) -> list[DecodedFrame]:
    """The first `n` frames the reader yields (the reader is closed afterwards, as the ingest worker does)."""
    stop = threading.Event()
    out: list[DecodedFrame] = []
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    gen: Iterator[DecodedFrame] = open_source(spec, stop, stats)
    try:
        for f in gen:
            out.append(f)
            if len(out) >= n:
                break
    finally:
        timer.cancel()
        gen.close()  # type: ignore[attr-defined]
    assert len(out) == n, f"only {len(out)} of {n} frames within {timeout}s"
    return out


def _assert_sampled(frames: list[DecodedFrame], fps: float) -> None:
    ts = [f.t for f in frames]
    assert ts == sorted(ts)
    gaps = [b - a for a, b in itertools.pairwise(ts)]
    assert min(gaps) >= 0.9 / fps, gaps  # never faster than the target fps


@pytest.fixture(scope="module")
def rtsp() -> Iterator[RtspServer]:
    with RtspServer(CLIP) as server:
        yield server


@pytest.mark.parametrize("protocol", ["RTSP_TCP", "RTSP_UDP"])
def test_rtsp(rtsp: RtspServer, protocol: str) -> None:
    frames = take(SourceSpec(rtsp.url, protocol=protocol, fps=5), 6)
    assert {(f.width, f.height) for f in frames} == {(1280, 720)} and all(f.frame is not None for f in frames)
    _assert_sampled(frames, 5)


def test_mjpeg_frames_pass_through_as_sent() -> None:
    with MjpegServer(CLIP, fps=10, width=640) as server:
        frames = take(SourceSpec(server.url, protocol="HTTP_MJPEG", fps=5), 6)
    assert all(f.jpeg is not None and f.jpeg[:2] == b"\xff\xd8" and f.frame is None for f in frames)
    assert all(f.pts_us is None for f in frames)  # MJPEG over HTTP has no stream timestamps; none are invented
    assert {(f.width, f.height) for f in frames} == {(640, 360)}
    _assert_sampled(frames, 5)


def test_mjpeg_is_also_found_without_naming_the_protocol() -> None:
    with MjpegServer(CLIP, fps=10, width=320) as server:
        frames = take(SourceSpec(server.url, fps=5), 3)  # AUTO -> FFmpeg probing finds mpjpeg
    assert all(f.jpeg is not None for f in frames)


@pytest.mark.parametrize("live", [False, True], ids=["vod", "live"])
def test_hls(live: bool) -> None:
    with HlsServer(CLIP, segment_seconds=2.0, live=live) as server:
        frames = take(SourceSpec(server.url, fps=5), 8, timeout=30)
    assert {(f.width, f.height) for f in frames} == {(1280, 720)}
    _assert_sampled(frames, 5)


def test_whep() -> None:
    from tests.servers.whep import WhepServer

    with WhepServer(CLIP) as server:
        frames = take(SourceSpec(server.whep_url, fps=5), 5, timeout=30)
    assert all(f.frame is not None and f.width > 0 for f in frames)
    _assert_sampled(frames, 5)


def test_file_loops_in_real_time_like_a_camera(small_clip: Path) -> None:
    t0 = time.monotonic()
    frames = take(SourceSpec(str(small_clip), fps=5, loop=True, realtime=True), 60, timeout=30)
    took = time.monotonic() - t0
    assert 11.0 <= took <= 14.0  # 60 frames at 5 fps: paced, not read as fast as the disk allows
    _assert_sampled(frames, 5)  # and time keeps increasing across the loop at 10 s


def test_key_frames_only_when_the_key_frame_interval_allows(small_clip: Path) -> None:
    stats = ReadStats()
    take(SourceSpec(str(small_clip), fps=1, decode="AUTO"), 5, stats=stats)  # key frame every 1 s, 1 fps
    # the first key-frame interval is decoded whole (to measure it), then only key frames
    assert stats.keyframes_only and stats.skipped_packets >= 25 and stats.decoded <= 15
    stats = ReadStats()
    take(SourceSpec(str(small_clip), fps=5, decode="AUTO"), 5, stats=stats)  # 5 fps needs every frame
    assert not stats.keyframes_only and stats.skipped_packets == 0


def test_a_file_that_does_not_exist_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.mp4.*check the path or URL") as e:
        take(SourceSpec(str(tmp_path / "nope.mp4")), 1)
    assert e.value.reason == "not_found"


def test_a_reader_that_falls_behind_a_live_camera_skips_to_the_live_edge(small_clip: Path) -> None:
    """Never a backlog: when reading stalls (here: the consumer pauses 4 s, as a too-slow decoder would), the
    frames buffered meanwhile are skipped, counted, and reading resumes at a key frame with fresh frames."""
    lags: list[float] = []
    stats = ReadStats(on_lag=lambda: lags.append(time.monotonic()))
    stop = threading.Event()
    with RtspServer(small_clip) as server:  # real RTP timestamps, a key frame every second
        gen = open_source(SourceSpec(server.url, protocol="RTSP_TCP", fps=5, max_lag_s=1.0), stop, stats)
        try:
            first = [next(gen) for _ in range(3)]
            time.sleep(4.0)
            t_resume = time.monotonic()
            after = next(gen)
            took = time.monotonic() - t_resume
            rest = [next(gen) for _ in range(10)]
        finally:
            gen.close()  # type: ignore[attr-defined]
    assert len(lags) == 1 and stats.lag_dropped >= 20, (lags, stats)
    assert after.t - first[-1].t >= 3.5  # the next frame is a fresh one, not one buffered 4 s ago
    assert took < 1.5 and stats.behind_s < 1.0
    _assert_sampled([after, *rest], 5)
