"""Failure reasons are read from the driver's error, never from the camera URL it repeats."""

from __future__ import annotations

import av
import pytest

from streams.ingest.errors import classify

# Ports and paths that hold a needle of another cause (401/403 unauthorized, 404 not found, "eof", "unknown").
URLS = ["rtsp://127.0.0.1:40133/cam", "rtsp://127.0.0.1:4031/cam", "http://cam/404/eof/unknown.mjpg"]


@pytest.mark.parametrize("url", URLS)
def test_a_timeout_is_unreachable_whatever_the_url_holds(url: str) -> None:
    assert classify(av.error.TimeoutError(110, "Connection timed out", url))[0] == "unreachable"
    assert classify(OSError(110, "Connection timed out", url))[0] == "unreachable"


def test_the_drivers_own_words_still_decide() -> None:
    err = av.error.HTTPUnauthorizedError(-825242872, "Server returned 401 Unauthorized (authorization failed)", "u")
    assert classify(err)[0] == "unauthorized"
    assert classify(ConnectionRefusedError(111, "Connection refused", "rtsp://h:401/x"))[0] == "refused"
    assert classify("Server returned 404 Not Found")[0] == "not_found"
