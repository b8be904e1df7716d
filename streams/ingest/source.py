"""Camera sources through FFmpeg (PyAV): files, RTSP, HTTP/MJPEG, HLS — anything FFmpeg opens."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from streams.ingest.errors import SourceError

__all__ = ["DecodedFrame", "is_live", "open_frames", "redact"]


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded frame; pixels are converted to BGR only when asked (most frames are sampled away)."""

    frame: av.VideoFrame
    t: float  # presentation time in seconds
    pts_us: int | None

    def bgr(self) -> npt.NDArray[np.uint8]:
        return self.frame.to_ndarray(format="bgr24")  # type: ignore[return-value]


def redact(url: str) -> str:
    """Remove credentials from a URL so it can be logged and put on events."""
    return re.sub(r"//[^/@]+@", "//***@", url)


def is_live(url: str) -> bool:
    return bool(re.match(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", url))


def _options(url: str) -> dict[str, str]:
    if url.startswith(("rtsp://", "rtsps://")):
        return {"rtsp_transport": "tcp", "stimeout": "5000000", "timeout": "5000000"}
    if is_live(url):
        return {"timeout": "5000000", "reconnect": "1"}
    return {}


def open_frames(url: str, realtime: bool = False, decode_threads: int = 1) -> Iterator[DecodedFrame]:
    """Decode the first video stream of `url`, yielding BGR frames with their presentation time.

    `realtime=True` paces a file source to its own frame timestamps, as a camera would deliver them.
    `decode_threads`: FFmpeg decoder threads (0 = FFmpeg's choice).
    """
    try:
        container = av.open(url, options=_options(url), timeout=10.0)
    except (av.error.FFmpegError, OSError) as e:
        raise SourceError(
            f"Cannot open camera source {redact(url)}: {e}. Check the path or URL, the credentials and that "
            "the camera is reachable (for RTSP try it with `ffprobe`)."
        ) from e
    try:
        if not container.streams.video:
            raise SourceError(f"Source {redact(url)} has no video stream.")
        stream = container.streams.video[0]
        # One decode thread per camera by default: a pod runs many cameras, and frame threads of one camera
        # compete with the other stages for the same cores (measured: more frames/s end to end with 1).
        if decode_threads == 1:
            stream.codec_context.thread_count = 1
        else:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = decode_threads
        tb = float(stream.time_base) if stream.time_base else 0.0
        start = time.monotonic()
        t_first: float | None = None
        for n, frame in enumerate(container.decode(stream)):
            if frame.pts is not None and tb:
                t = frame.pts * tb
                pts_us: int | None = int(t * 1_000_000)
            else:
                t, pts_us = n / float(stream.average_rate or 25), None
            if t_first is None:
                t_first = t
            if realtime:
                ahead = (t - t_first) - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            yield DecodedFrame(frame=frame, t=t, pts_us=pts_us)
    except av.error.FFmpegError as e:
        raise SourceError(f"Reading camera source {redact(url)} failed: {e}.") from e
    finally:
        container.close()
