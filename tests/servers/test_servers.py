"""The loopback test servers really serve what they claim, as FFmpeg (PyAV) sees it. No stack needed.

FFmpeg option names used here (PyAV 18 / FFmpeg 8): `rtsp_transport` = "tcp" | "udp"; `timeout` (microseconds)
is the socket I/O and connect timeout for rtsp://, http:// and tcp:// alike (`stimeout` is gone and silently
ignored). PyAV's own `av.open(..., timeout=seconds)` is a safety net so no test can hang.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import av
import pytest

from tests.conftest import CLIP
from tests.servers import (
    BlackholeServer,
    GarbageServer,
    HlsServer,
    MjpegServer,
    NotVideoServer,
    ResolutionChangeServer,
    RtspServer,
    refused_url,
    rtsp_request_status,
)

NET_TIMEOUT = {"timeout": "2000000"}  # 2 s, in microseconds
SAFETY_S = 20.0


def frame_sizes(
    url: str, n: int, options: dict[str, str] | None = None, format: str | None = None
) -> list[tuple[int, int]]:
    """Open `url` with PyAV and decode up to `n` video frames; their (width, height)."""
    with av.open(url, format=format, options={**NET_TIMEOUT, **(options or {})}, timeout=SAFETY_S) as c:
        return [(f.width, f.height) for f in itertools.islice(c.decode(video=0), n)]


@pytest.fixture(scope="module")
def rtsp() -> Iterator[RtspServer]:
    with RtspServer(CLIP) as server:
        yield server


# -- RTSP ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_rtsp_serves_the_clip_over_tcp_and_udp(rtsp: RtspServer, transport: str) -> None:
    sizes = frame_sizes(rtsp.url, 12, {"rtsp_transport": transport})
    assert len(sizes) == 12 and set(sizes) == {(1280, 720)}


def test_rtsp_is_paced_in_real_time(rtsp: RtspServer) -> None:
    with av.open(rtsp.url, options={"rtsp_transport": "tcp", **NET_TIMEOUT}, timeout=SAFETY_S) as c:
        frames = c.decode(video=0)
        next(frames)
        start = time.monotonic()
        for _ in itertools.islice(frames, 60):  # the first ones may come in a burst; 60 more take ~2 s at 29.97 fps
            pass
        assert 1.0 < time.monotonic() - start < 4.0


def test_rtsp_basic_auth() -> None:
    with RtspServer(CLIP, user="admin", password="s3cret:/@") as cam:
        assert rtsp_request_status(cam.port, cam.path) == 401
        assert rtsp_request_status(cam.port, cam.path, user="admin", password="wrong") == 401
        assert rtsp_request_status(cam.port, cam.path, user="admin", password="s3cret:/@") == 200
        assert set(frame_sizes(cam.url_with("admin", "s3cret:/@"), 10, {"rtsp_transport": "tcp"})) == {(1280, 720)}
        for url in (cam.url_with("admin", "wrong"), cam.url):
            with pytest.raises(av.HTTPUnauthorizedError, match="401 Unauthorized"):
                frame_sizes(url, 1, {"rtsp_transport": "tcp"})


def test_rtsp_kill_then_start_on_the_same_port() -> None:
    with RtspServer(CLIP) as cam:
        url, pid = cam.url, cam.pid
        with av.open(url, options={"rtsp_transport": "tcp", **NET_TIMEOUT}, timeout=SAFETY_S) as c:
            frames = c.decode(video=0)
            assert len(list(itertools.islice(frames, 5))) == 5
            cam.kill()
            assert not cam.running
            start = time.monotonic()
            rest = sum(1 for _ in itertools.islice(frames, 1000))  # FFmpeg drains its buffer, then sees EOF
            assert rest < 200 and time.monotonic() - start < 5
        with pytest.raises(ConnectionRefusedError, match="Connection refused"):
            frame_sizes(url, 1, {"rtsp_transport": "tcp"})
        cam.start()
        assert cam.url == url and cam.pid != pid
        assert len(frame_sizes(url, 10, {"rtsp_transport": "udp"})) == 10


def test_rtsp_frozen_camera_times_out(rtsp: RtspServer) -> None:
    with av.open(rtsp.url, options={"rtsp_transport": "tcp", "timeout": "1000000"}, timeout=SAFETY_S) as c:
        frames = c.decode(video=0)
        next(frames)
        rtsp.freeze()
        try:
            with pytest.raises(TimeoutError, match="Connection timed out"):
                for _ in itertools.islice(frames, 2000):
                    pass
        finally:
            rtsp.thaw()


# -- HTTP cameras --------------------------------------------------------------------------------------------------


def test_mjpeg_is_read_with_and_without_format() -> None:
    with MjpegServer(CLIP, fps=25.0, width=640, cache_frames=20) as cam:
        assert cam.frame_size == (640, 360)
        assert frame_sizes(cam.url, 10, format="mpjpeg") == [(640, 360)] * 10
        assert frame_sizes(cam.url, 5) == [(640, 360)] * 5  # FFmpeg also auto-detects mpjpeg


def test_mjpeg_basic_auth_and_max_frames() -> None:
    with MjpegServer(CLIP, fps=50.0, max_frames=7, user="u", password="p", cache_frames=3) as cam:
        sizes: list[tuple[int, int]] = []
        # FFmpeg's http reports the end of a body of unknown length as EIO ("Stream ends prematurely")
        with (
            av.open(cam.url_with("u", "p"), format="mpjpeg", timeout=SAFETY_S) as c,
            pytest.raises(OSError, match="Input/output error"),
        ):
            sizes.extend((f.width, f.height) for f in c.decode(video=0))
        assert sizes == [(1280, 720)] * 7
        with pytest.raises(av.HTTPUnauthorizedError, match="401 Unauthorized"):
            frame_sizes(cam.url_with("u", "bad"), 1, format="mpjpeg")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(cam.url, timeout=5)
        assert err.value.code == 401 and err.value.headers["WWW-Authenticate"].startswith("Basic ")
        err.value.close()


def test_hls_vod_is_decoded() -> None:
    with HlsServer(CLIP, segment_seconds=1.0, max_seconds=4.0) as cam:
        assert all(0.9 < d < 1.1 for d, _ in cam.segments[:-1]) and len(cam.segments) >= 4
        with urllib.request.urlopen(cam.url, timeout=5) as r:
            playlist = r.read().decode()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and "#EXT-X-ENDLIST" in playlist
        assert frame_sizes(cam.url, 40) == [(1280, 720)] * 40


def test_hls_live_playlist_grows() -> None:
    with HlsServer(CLIP, segment_seconds=1.0, max_seconds=5.0, live=True, live_initial_segments=2) as cam:
        first = cam.live_playlist()
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in first and "#EXT-X-ENDLIST" not in first
        assert first.count("#EXTINF") == 2
        assert frame_sizes(cam.url, 10) == [(1280, 720)] * 10
        time.sleep(1.2)
        assert cam.live_playlist().count("#EXTINF") >= 3


def test_hls_remuxes_when_keyframes_allow() -> None:
    with HlsServer(CLIP, segment_seconds=8.0) as cam:  # the clip has a keyframe every 8.3 s: no re-encoding
        assert [round(d) for d, _ in cam.segments] == [8, 7]
        assert frame_sizes(cam.url, 5) == [(1280, 720)] * 5


def test_resolution_change_is_seen() -> None:
    with ResolutionChangeServer(CLIP, seconds_each=1.0, cycles=1) as cam:
        sizes = frame_sizes(cam.url, 1000)
    assert [k for k, _ in itertools.groupby(sizes)] == [(640, 360), (320, 180)]
    assert len(sizes) == 60


# -- sources that are not cameras ----------------------------------------------------------------------------------


def test_not_video_is_rejected() -> None:
    with NotVideoServer() as srv:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/any/path", timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/html")
        with pytest.raises(av.InvalidDataError, match="Invalid data found when processing input"):
            frame_sizes(srv.url, 1)


def test_garbage_is_rejected() -> None:
    with GarbageServer() as srv:
        start = time.monotonic()
        with pytest.raises(av.InvalidDataError, match="Invalid data found when processing input"):
            frame_sizes(srv.url, 1)
        assert time.monotonic() - start < 5


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_refused(scheme: str) -> None:
    with pytest.raises(ConnectionRefusedError, match="Connection refused"):
        frame_sizes(refused_url(scheme), 1)


def test_blackhole_times_out() -> None:
    with BlackholeServer() as hole:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            socket.create_connection(("127.0.0.1", hole.port), timeout=0.5).close()
        for url, options in [
            (hole.url, {"rtsp_transport": "tcp", "timeout": "1000000"}),
            (hole.url_for("http", "/stream.ts"), {"timeout": "1000000"}),
        ]:
            with pytest.raises(TimeoutError, match="Connection timed out"):
                frame_sizes(url, 1, options)
        assert time.monotonic() - start < 6


# -- clean shutdown ------------------------------------------------------------------------------------------------


def test_servers_stop_cleanly_even_mid_stream() -> None:
    before = set(threading.enumerate())
    for server in (MjpegServer(CLIP, cache_frames=2), GarbageServer(), HlsServer(CLIP, segment_seconds=8.0)):
        with server, socket.create_connection(("127.0.0.1", server.port), timeout=2) as client:
            client.sendall(f"GET {server.path} HTTP/1.0\r\n\r\n".encode())
            assert client.recv(100).startswith(b"HTTP/1.0 200")
            start = time.monotonic()
            server.stop()  # while the client is still connected
            assert time.monotonic() - start < 2
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    assert set(threading.enumerate()) <= before
