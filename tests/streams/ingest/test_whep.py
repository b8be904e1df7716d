"""WHEP (WebRTC) camera sources against a real WHEP endpoint on 127.0.0.1 (tests/servers/whep.py): no mocks."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Generator, Iterator

import pytest

from streams.ingest.errors import SourceError
from streams.ingest.frames import DecodedFrame
from streams.ingest.whep import _endpoint, open_whep
from tests.conftest import CLIP
from tests.servers.whep import WhepServer, loopback_ice

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """Every test leaves no thread behind (the WHEP loop thread, aiortc's decoder threads, the servers)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while (left := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"threads left running: {sorted(t.name for t in left)}"


@pytest.fixture(scope="module")
def server() -> Iterator[WhepServer]:
    """One endpoint for the tests that do not change its behaviour."""
    with WhepServer(CLIP) as srv:
        yield srv


def take(frames: Generator[DecodedFrame, None, None], n: int, within_s: float) -> list[DecodedFrame]:
    out: list[DecodedFrame] = []
    deadline = time.monotonic() + within_s
    for frame in frames:
        out.append(frame)
        if len(out) >= n or time.monotonic() > deadline:
            break
    return out


def error_of(frames: Iterator[DecodedFrame], within_s: float) -> tuple[SourceError, float]:
    """Iterate until the source raises; the error and how long it took."""
    start = time.monotonic()
    with pytest.raises(SourceError) as info:
        for _ in frames:
            assert time.monotonic() - start < within_s, "the source did not fail in time"
    return info.value, time.monotonic() - start


def test_url_forms() -> None:
    ep = _endpoint("whep://cam:p%40ss@127.0.0.1:8889/live/whep?x=1")
    assert ep.url == "http://127.0.0.1:8889/live/whep?x=1"
    assert ep.headers["Authorization"] == "Basic " + base64.b64encode(b"cam:p@ss").decode()
    assert "p%40ss" not in ep.shown and "***@" in ep.shown
    ep = _endpoint("wheps://example.org/whep?token=abc&x=1")
    assert (ep.url, ep.headers) == ("https://example.org/whep?x=1", {"Authorization": "Bearer abc"})
    assert "abc" not in ep.shown and "token=***" in ep.shown
    with pytest.raises(SourceError, match="not a WHEP URL"):
        _endpoint("rtsp://127.0.0.1/whep")


def test_frames_arrive(server: WhepServer) -> None:
    start = time.monotonic()
    frames = open_whep(server.whep_url)
    got = take(frames, 30, within_s=10)
    frames.close()
    assert len(got) >= 20, f"only {len(got)} frames in {time.monotonic() - start:.1f} s"
    assert {(f.width, f.height) for f in got} == {(1280, 720)}
    assert all(f.frame is not None and f.frame.width == 1280 for f in got)
    assert got[0].bgr().shape == (720, 1280, 3)
    ts = [f.t for f in got]
    assert ts == sorted(ts) and ts[-1] > ts[0]
    assert all(f.pts_us == round(f.t * 1e6) for f in got)


def test_stop_event_ends_the_iterator_within_a_second(server: WhepServer) -> None:
    stop = threading.Event()
    got: list[DecodedFrame] = []
    consumer = threading.Thread(target=lambda: got.extend(open_whep(server.url, stop=stop)), name="consumer")
    consumer.start()
    deadline = time.monotonic() + 10
    while len(got) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(got) >= 10
    stopped = time.monotonic()
    stop.set()
    consumer.join(5)
    assert not consumer.is_alive()
    assert time.monotonic() - stopped < 1.0
    assert not [t for t in threading.enumerate() if t.name.startswith("whep-127")]  # the WHEP thread is joined


def test_session_is_deleted_on_close(server: WhepServer) -> None:
    frames = open_whep(server.whep_url)
    assert take(frames, 1, within_s=10)
    (sid,) = server.sessions
    frames.close()
    assert sid in server.deleted
    assert sid not in server.sessions


def test_wrong_token_is_refused_and_not_shown() -> None:
    with WhepServer(CLIP, token="s3cret") as srv:
        frames = open_whep(f"{srv.whep_url}?token=wrong")
        error, _ = error_of(frames, within_s=10)
        assert "401" in str(error) and "credentials" in str(error)
        assert "wrong" not in str(error) and "token=***" in str(error)
        assert error.reason == "unauthorized"
        frames = open_whep(f"{srv.whep_url}?token=s3cret")
        assert take(frames, 1, within_s=10)
        frames.close()


def test_basic_credentials_from_the_url() -> None:
    with WhepServer(CLIP, user="cam", password="pw") as srv:
        error, _ = error_of(open_whep(f"whep://cam:nope@127.0.0.1:{srv.port}/whep"), within_s=10)
        assert "401" in str(error) and "nope" not in str(error)
        frames = open_whep(f"whep://cam:pw@127.0.0.1:{srv.port}/whep")
        assert take(frames, 1, within_s=10)
        frames.close()
        assert len(srv.deleted) == 1  # the DELETE carried the credentials too


def test_nothing_listening_fails_fast() -> None:
    with WhepServer(CLIP) as srv:
        port = srv.port
    with loopback_ice():
        error, took = error_of(open_whep(f"whep://127.0.0.1:{port}/whep"), within_s=5)
    assert "Cannot reach WHEP endpoint" in str(error) and error.reason == "refused"
    assert took < 2.0


@pytest.mark.parametrize(
    ("fail_with", "expected", "reason"),
    [
        ((404, "text/plain", b"no such stream"), "HTTP 404", "not_found"),
        ((200, "application/sdp", b"v=0\r\n"), "instead of 201 Created", "bad_stream"),
        ((201, "text/html", b"<html>hello</html>"), "not an SDP answer", "not_video"),
    ],
)
def test_bad_answers(fail_with: tuple[int, str, bytes], expected: str, reason: str) -> None:
    with WhepServer(CLIP, fail_with=fail_with) as srv:
        error, _ = error_of(open_whep(srv.url), within_s=10)
    assert expected in str(error) and error.reason == reason


def test_no_video_track() -> None:
    with WhepServer(CLIP, send_video=False) as srv:
        error, _ = error_of(open_whep(srv.url), within_s=10)
    assert "offers no video track" in str(error) and error.reason == "not_video"


def test_connection_that_never_comes_up(server: WhepServer) -> None:
    """A valid answer whose ICE candidate nobody serves any more (the session is gone)."""
    frames = open_whep(server.url)
    assert take(frames, 1, within_s=10)
    frames.close()
    with WhepServer(CLIP, fail_with=(201, "application/sdp", server.answers[-1].encode())) as stale:
        error, took = error_of(open_whep(stale.url, connect_timeout=1.5), within_s=5)
    assert "did not come up within 1.5 s" in str(error) and error.reason == "unreachable"
    assert took < 3.5


def test_server_closing_the_session_ends_the_source() -> None:
    with WhepServer(CLIP) as srv:
        frames = open_whep(srv.url, connect_timeout=3)
        assert take(frames, 5, within_s=10)
        assert srv.kill_sessions() == 1
        error, took = error_of(frames, within_s=5)
    assert "closed the connection" in str(error) or "stalled" in str(error)
    assert error.reason in ("ended", "stalled")
    assert took < 3 + 1


def test_stalled_stream() -> None:
    with WhepServer(CLIP) as srv:
        frames = open_whep(srv.url, connect_timeout=1.5)
        assert take(frames, 5, within_s=10)
        srv.freeze()
        error, took = error_of(frames, within_s=5)
    assert "stalled: no video frame for 1.5 s" in str(error) and error.reason == "stalled"
    assert took < 1.5 + 1


def test_decoding_behind_the_stream_is_an_error() -> None:
    """Frames that come out ever later than their timestamps say (here the server's clock runs at 1/4 speed)."""
    with WhepServer(CLIP, timestamp_scale=0.25) as srv:
        error, took = error_of(open_whep(srv.url, connect_timeout=1.5), within_s=6)
    assert "lagging" in str(error) and error.reason == "lagging"
    assert took < 4


def test_slow_consumer_gets_fresh_frames_and_drops_are_counted(server: WhepServer) -> None:
    drops = 0

    def dropped() -> None:
        nonlocal drops
        drops += 1

    frames = open_whep(server.url, queue_size=1, on_drop=dropped)
    got = take(frames, 1, within_s=10)
    for frame in frames:
        time.sleep(0.4)  # much slower than the 30 fps the camera sends
        got.append(frame)
        if len(got) == 5:
            break
    frames.close()
    gaps = [b.t - a.t for a, b in itertools.pairwise(got[1:])]
    assert min(gaps) > 0.3, f"frames were not the freshest: gaps {gaps}"
    assert drops >= 20
