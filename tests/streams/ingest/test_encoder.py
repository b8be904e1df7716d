"""Scaling caps, JPEG pass-through, key-frame maths and backoff (pure logic)."""

import random

import cv2
import numpy as np
import pytest

from schemas.jpeg import jpeg_size
from streams.ingest.backoff import Backoff
from streams.ingest.encoder import encode_frame, fit_within
from streams.ingest.frames import DecodedFrame
from streams.ingest.source import resolve_protocol


@pytest.mark.parametrize(
    ("size", "cap", "expected"),
    [
        ((1920, 1080), (1280, 720), (1280, 720)),
        ((1280, 720), (1280, 720), (1280, 720)),
        ((640, 360), (1280, 720), (640, 360)),  # never upscales
        ((2560, 1440), (1280, 0), (1280, 720)),  # 0 = no cap on that side
        ((1080, 1920), (1280, 720), (404, 720)),  # portrait: height binds, aspect kept, even width
        ((4000, 3000), (0, 0), (4000, 3000)),
    ],
)
def test_fit_within(size: tuple[int, int], cap: tuple[int, int], expected: tuple[int, int]) -> None:
    assert fit_within(*size, *cap) == expected


def _jpeg(w: int, h: int) -> bytes:
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = 255
    return bytes(cv2.imencode(".jpg", img)[1].tobytes())


def test_a_jpeg_within_the_cap_passes_through_untouched() -> None:
    data = _jpeg(640, 360)
    out, w, h = encode_frame(DecodedFrame(t=0, pts_us=0, width=640, height=360, jpeg=data), 1280, 720, 90)
    assert out is data and (w, h) == (640, 360)


def test_a_jpeg_over_the_cap_is_scaled_and_re_encoded() -> None:
    data = _jpeg(1920, 1080)
    out, w, h = encode_frame(DecodedFrame(t=0, pts_us=0, width=1920, height=1080, jpeg=data), 1280, 720, 80)
    assert (w, h) == (1280, 720) and jpeg_size(out) == (1280, 720)


def test_a_corrupt_jpeg_that_must_be_scaled_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="does not decode"):
        encode_frame(DecodedFrame(t=0, pts_us=0, width=1920, height=1080, jpeg=b"\xff\xd8junk"), 1280, 720, 80)


@pytest.mark.parametrize(
    ("url", "protocol"),
    [
        ("rtsp://cam/x", "RTSP_TCP"),
        ("RTSP://cam/x", "RTSP_TCP"),
        ("whep://cam/whep", "WHEP"),
        ("https://cdn/live/index.m3u8?token=1", "HLS"),
        ("http://cam/video.mjpg", "FFMPEG"),
        ("/data/clip.mp4", "FILE"),
    ],
)
def test_protocol_is_inferred_from_the_url(url: str, protocol: str) -> None:
    assert resolve_protocol(url) == protocol
    assert resolve_protocol(url, "RTSP_UDP") == "RTSP_UDP"  # an explicit protocol wins


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    b = Backoff(0.5, 8.0, rng=random.Random(1))
    delays = [b.next() for _ in range(8)]
    for n, d in enumerate(delays):
        ceiling = min(8.0, 0.5 * 2**n)
        assert ceiling / 2 <= d <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not lock-step
    b.reset()
    assert b.next() <= 0.5


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="min_s <= max_s"):
        Backoff(5, 1)
