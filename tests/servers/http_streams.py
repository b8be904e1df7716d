"""HTTP cameras and broken HTTP sources on 127.0.0.1, each a ThreadingHTTPServer in a daemon thread.

- `MjpegServer`: multipart/x-mixed-replace MJPEG, as many IP cameras serve (FFmpeg demuxer: `mpjpeg`).
- `HlsServer`: an HLS playlist with MPEG-TS segments, VOD or a live "event" playlist that grows in real time.
- `NotVideoServer`: an HTML page at every path.
- `GarbageServer`: 200 `video/mp2t`, then random bytes.
- `ResolutionChangeServer`: one MPEG-TS H.264 stream whose resolution changes mid-stream.

Everything served is prepared once at start (decoded, encoded, segmented), so serving costs little CPU.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

from tests.servers import _media
from tests.servers._http import CLIENT_GONE, HttpStreamServer, LoopbackHTTPServer, QuietHandler

_FOREVER_S = 600.0  # upper bound on any single streamed response


class _MjpegHandler(QuietHandler):
    server: LoopbackHTTPServer

    def do_HEAD(self) -> None:
        if self.authorized():
            self._headers()

    def do_GET(self) -> None:
        if not self.authorized():
            return
        owner = self.server.owner
        assert isinstance(owner, MjpegServer)
        self._headers()
        limit = owner.max_frames if owner.max_frames is not None else int(_FOREVER_S * owner.fps)
        start = time.monotonic()
        for i in range(limit):
            image = owner.images[i % len(owner.images)]
            part = (
                f"--{owner.boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(image)}\r\n\r\n".encode()
                + image
                + b"\r\n"
            )
            if not self.write_quietly(part):
                return
            delay = start + (i + 1) / owner.fps - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                return
        self.write_quietly(f"--{owner.boundary}--\r\n".encode())  # the multipart close delimiter

    def _headers(self) -> None:
        owner = self.server.owner
        assert isinstance(owner, MjpegServer)
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={owner.boundary}")
        self.send_header("Cache-Control", "no-cache, no-store")
        self.send_header("Connection", "close")
        self.end_headers()


class MjpegServer(HttpStreamServer):
    """MJPEG over HTTP at http://127.0.0.1:PORT/video.mjpg: the clip's frames as JPEGs, `fps` a second, looped.

    Up to `cache_frames` frames are decoded and JPEG-encoded once at start (downscaled to `width` when given), then
    replayed in a loop. `max_frames` ends each response after that many frames (default: 10 minutes' worth).
    With `user`, requests need HTTP Basic auth (else 401 with WWW-Authenticate).
    """

    handler = _MjpegHandler
    path = "/video.mjpg"
    boundary = "itsframe"

    def __init__(
        self,
        clip: Path,
        fps: float = 10.0,
        max_frames: int | None = None,
        user: str | None = None,
        password: str | None = None,
        width: int | None = None,
        *,
        cache_frames: int = 100,
    ) -> None:
        super().__init__()
        if fps <= 0:
            raise ValueError("fps must be > 0")
        self.clip = Path(clip)
        self.fps = fps
        self.max_frames = max_frames
        self.user = user
        self.password = password
        self.width = width
        self.cache_frames = cache_frames
        self.images: list[bytes] = []

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the served JPEGs."""
        import cv2
        import numpy as np

        decoded = cv2.imdecode(np.frombuffer(self.images[0], np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded is not None
        return int(decoded.shape[1]), int(decoded.shape[0])

    def prepare(self) -> None:
        if not self.images:
            self.images = _media.jpeg_frames(self.clip, max_frames=self.cache_frames, width=self.width)


class _HlsHandler(SimpleHTTPRequestHandler, QuietHandler):
    server: LoopbackHTTPServer
    extensions_map: ClassVar[dict[str, str]] = {  # type: ignore[misc]
        ".m3u8": "application/vnd.apple.mpegurl",
        ".ts": "video/mp2t",
        "": "application/octet-stream",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        owner = args[2].owner
        assert isinstance(owner, HlsServer)
        super().__init__(*args, directory=str(owner.directory), **kwargs)

    def do_GET(self) -> None:
        owner = self.server.owner
        assert isinstance(owner, HlsServer)
        if owner.live and self.path.split("?")[0] == HlsServer.path:
            body = owner.live_playlist().encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.apple.mpegurl")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)
            return
        try:
            super().do_GET()
        except CLIENT_GONE:
            return


class HlsServer(HttpStreamServer):
    """HLS at http://127.0.0.1:PORT/index.m3u8 with MPEG-TS segments of about `segment_seconds`, made at start.

    The clip's H.264 is remuxed when its keyframes are close enough for `segment_seconds`; otherwise it is
    re-encoded (libx264 ultrafast, a keyframe every `segment_seconds`): the highway clip has one every 8.3 s,
    so the default 1 s segments cost ~2 s of encoding at start. `reencode` forces either way.

    With `live=False` (default) the playlist is VOD: complete, with #EXT-X-ENDLIST. With `live=True` it is an
    EVENT playlist that grows in real time: `live_initial_segments` are listed at start, one more each time a
    segment's duration has passed, and #EXT-X-ENDLIST once all are out (a camera's live HLS, ending with the clip).
    """

    handler = _HlsHandler
    path = "/index.m3u8"

    def __init__(
        self,
        clip: Path,
        segment_seconds: float = 1.0,
        *,
        live: bool = False,
        live_initial_segments: int = 3,
        reencode: bool | None = None,
        max_seconds: float | None = None,
    ) -> None:
        super().__init__()
        self.clip = Path(clip)
        self.segment_seconds = segment_seconds
        self.live = live
        self.live_initial_segments = live_initial_segments
        self.reencode = reencode
        self.max_seconds = max_seconds
        self._dir: str | None = None
        self._segments: list[tuple[float, str]] = []
        self._started = 0.0

    @property
    def directory(self) -> Path:
        assert self._dir is not None, "server not started"
        return Path(self._dir)

    @property
    def segments(self) -> list[tuple[float, str]]:
        """(duration in seconds, file name) of every segment."""
        return list(self._segments)

    def prepare(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="its-hls-")
        try:
            playlist = _media.build_hls(
                self.clip,
                self.directory,
                segment_seconds=self.segment_seconds,
                reencode=self.reencode,
                max_seconds=self.max_seconds,
            )
        except BaseException:
            self.cleanup()
            raise
        text = playlist.read_text()
        self._segments = [(float(d), name) for d, name in re.findall(r"#EXTINF:([\d.]+),[^\n]*\n([^\n#]+)", text)]
        self._started = time.monotonic()

    def live_playlist(self) -> str:
        """The EVENT playlist as of now."""
        elapsed = time.monotonic() - self._started
        shown: list[tuple[float, str]] = []
        published_until = 0.0
        for i, (duration, name) in enumerate(self._segments):
            if i >= self.live_initial_segments and published_until + duration > elapsed:
                break
            if i >= self.live_initial_segments:
                published_until += duration
            shown.append((duration, name))
        target = max((d for d, _ in self._segments), default=self.segment_seconds)
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{int(target + 0.999)}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:EVENT",
        ]
        for duration, name in shown:
            lines += [f"#EXTINF:{duration:.6f},", name]
        if len(shown) == len(self._segments):
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class _NotVideoHandler(QuietHandler):
    page = (
        b"<!DOCTYPE html>\n<html><head><title>Camera login</title></head>"
        b"<body><h1>Welcome</h1><p>This is a web page, not a video stream.</p></body></html>\n"
    )

    def do_HEAD(self) -> None:
        self._headers()

    def do_GET(self) -> None:
        self._headers()
        self.write_quietly(self.page)

    def _headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()


class NotVideoServer(HttpStreamServer):
    """An HTML page (text/html) at every path of http://127.0.0.1:PORT/: a URL that is not video."""

    handler = _NotVideoHandler
    path = "/stream"


class _GarbageHandler(QuietHandler):
    def do_HEAD(self) -> None:
        self._headers()

    def do_GET(self) -> None:
        owner = self.server.owner
        assert isinstance(owner, GarbageServer)
        self._headers()
        chunk = 64 * 1024
        start = time.monotonic()
        for i in range(int(owner.duration_s * owner.rate_bytes_per_s / chunk) + 1):
            if not self.write_quietly(os.urandom(chunk)):
                return
            delay = start + (i + 1) * chunk / owner.rate_bytes_per_s - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                return

    def _headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Connection", "close")
        self.end_headers()


class GarbageServer(HttpStreamServer):
    """200 with Content-Type video/mp2t, then random bytes at `rate_bytes_per_s` for `duration_s` or until the
    client goes: a stream that sends garbage."""

    handler = _GarbageHandler
    path = "/stream.ts"

    def __init__(self, duration_s: float = 30.0, rate_bytes_per_s: int = 4 * 1024 * 1024) -> None:
        super().__init__()
        self.duration_s = duration_s
        self.rate_bytes_per_s = rate_bytes_per_s


class _ResolutionChangeHandler(QuietHandler):
    def do_HEAD(self) -> None:
        owner = self.server.owner
        assert isinstance(owner, ResolutionChangeServer)
        self._headers(len(owner.data))

    def do_GET(self) -> None:
        owner = self.server.owner
        assert isinstance(owner, ResolutionChangeServer)
        self._headers(len(owner.data))
        if not owner.realtime:
            self.write_quietly(owner.data)
            return
        chunk = 188 * 64
        rate = len(owner.data) / owner.duration_s
        start = time.monotonic()
        for i, offset in enumerate(range(0, len(owner.data), chunk)):
            if not self.write_quietly(owner.data[offset : offset + chunk]):
                return
            delay = start + (i + 1) * chunk / rate - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                return

    def _headers(self, length: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Content-Length", str(length))
        self.end_headers()


class ResolutionChangeServer(HttpStreamServer):
    """MPEG-TS H.264 at http://127.0.0.1:PORT/stream.ts whose resolution changes mid-stream.

    The clip is encoded at start with libx264: `seconds_each` seconds at each of `sizes` in turn, `cycles` times
    (default 640x360, 320x180, 640x360, 320x180: 12 s, ~1 MB), as one stream with continuous timestamps. Each
    response sends it once and ends; unpaced by default (as fast as the client reads), or paced at the stream's
    average bitrate with `realtime=True`.
    """

    handler = _ResolutionChangeHandler
    path = "/stream.ts"

    def __init__(
        self,
        clip: Path,
        *,
        sizes: tuple[tuple[int, int], ...] = ((640, 360), (320, 180)),
        seconds_each: float = 3.0,
        cycles: int = 2,
        realtime: bool = False,
    ) -> None:
        super().__init__()
        self.clip = Path(clip)
        self.sizes = sizes
        self.seconds_each = seconds_each
        self.cycles = cycles
        self.realtime = realtime
        self.data = b""
        self.duration_s = 0.0

    def prepare(self) -> None:
        if not self.data:
            self.data, self.duration_s = _media.resolution_change_ts(
                self.clip, sizes=list(self.sizes), seconds_each=self.seconds_each, cycles=self.cycles
            )


__all__ = ["GarbageServer", "HlsServer", "MjpegServer", "NotVideoServer", "ResolutionChangeServer"]
