"""A real WHEP endpoint (draft-ietf-wish-whep) on 127.0.0.1 serving a looped clip over WebRTC for the
WHEP source tests.

    with WhepServer(CLIP, token="s3cret") as srv:
        frames = open_whep(srv.whep_url + "?token=s3cret")
        srv.kill_sessions()  # the server drops every viewer mid-stream
        srv.freeze()         # viewers stay connected but get no more frames

HTTP (stdlib `ThreadingHTTPServer` on its own thread): `POST /whep` with an SDP offer answers `201 Created`, the
SDP answer and `Location: /whep/session/<id>`; `DELETE /whep/session/<id>` closes that session. With `token`
and/or `user`+`password` a request needs `Authorization: Bearer <token>` or Basic credentials (401 otherwise).

WebRTC (aiortc on its own asyncio loop thread): every session gets its own track, which starts at the clip's
first frame, is paced in real time and loops with continuous timestamps. The clip is re-encoded ONCE per process
(about 2 s of CPU for 720p, cached) to H.264 constrained baseline without B-frames, a keyframe every second, as a
WebRTC camera sends it; sessions then send those packets as they are, so serving a viewer costs next to no CPU
and the H.264 codec is forced in the answer. (aiortc's `MediaPlayer(loop=True)` is not used: after the first
loop it restarts its timestamps at 0 and plays unthrottled, and passing the clip's own B-frame packets through
makes aiortc's receiver take every backwards RTP timestamp for a wrap-around.)

aioice never gathers 127.0.0.1 and would offer the machine's other addresses instead; while a server runs,
`loopback_ice()` makes aioice gather on 127.0.0.1 only. It patches aioice for the whole process, so a WHEP
client in the same process (the tests) also gathers on loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import fractions
import http.server
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from unittest import mock

import aioice.ice
import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

__all__ = ["WhepServer", "loopback_ice"]

_T = TypeVar("_T")
_VIDEO_CLOCK = fractions.Fraction(1, 90_000)
_RTC_TIMEOUT_S = 10.0


# --- ICE on loopback only ----------------------------------------------------------------------------------------

_ice_lock = threading.Lock()
_ice_users = 0
_ice_patch: Any = None


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


@contextmanager
def loopback_ice() -> Iterator[None]:
    """While inside, aioice (so every aiortc peer connection of this process) gathers on 127.0.0.1 only."""
    global _ice_users, _ice_patch
    with _ice_lock:
        if _ice_users == 0:
            _ice_patch = mock.patch.object(aioice.ice, "get_host_addresses", _loopback_addresses)
            _ice_patch.start()
        _ice_users += 1
    try:
        yield
    finally:
        with _ice_lock:
            _ice_users -= 1
            if _ice_users == 0 and _ice_patch is not None:
                _ice_patch.stop()
                _ice_patch = None


# --- the clip, encoded once as a WebRTC camera would send it ------------------------------------------------------


@dataclass(frozen=True)
class _EncodedClip:
    packets: tuple[bytes, ...]  # one Annex-B access unit per frame, in display order (no B-frames)
    frame_ticks: int  # duration of one frame in 1/90000 s
    fps: float
    width: int
    height: int


_clips: dict[tuple[Path, tuple[int, int] | None], _EncodedClip] = {}
_clips_lock = threading.Lock()


def _encode_clip(clip: Path, size: tuple[int, int] | None) -> _EncodedClip:
    with _clips_lock:
        key = (clip.resolve(), size)
        if key not in _clips:
            with av.open(str(clip)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                rate = stream.average_rate or fractions.Fraction(30)
                width, height = size or (stream.width, stream.height)
                encoder = av.CodecContext.create("libx264", "w")
                assert isinstance(encoder, av.VideoCodecContext)
                encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
                encoder.time_base = _VIDEO_CLOCK
                encoder.framerate = rate
                gop = str(round(rate))
                encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "crf": "26"}
                encoder.options |= {"g": gop, "keyint_min": gop, "bf": "0"}
                ticks = round(90_000 / rate)
                packets: list[bytes] = []
                for n, frame in enumerate(container.decode(stream)):
                    out = frame.reformat(width=width, height=height, format="yuv420p")
                    out.pts, out.time_base = n * ticks, _VIDEO_CLOCK
                    packets += [bytes(p) for p in encoder.encode(out)]
                packets += [bytes(p) for p in encoder.encode(None)]
            _clips[key] = _EncodedClip(tuple(packets), ticks, float(rate), width, height)
        return _clips[key]


class _ClipTrack(MediaStreamTrack):
    """One viewer's video: the encoded clip from its first frame, paced in real time, looped."""

    kind = "video"

    def __init__(self, clip: _EncodedClip, frozen: threading.Event, timestamp_scale: float) -> None:
        super().__init__()
        self._ticks = round(clip.frame_ticks * timestamp_scale)
        self._clip = clip
        self._frozen = frozen
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.Packet[Any]:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._n / self._clip.fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        while self._frozen.is_set() and self.readyState == "live":  # ends with the session
            await asyncio.sleep(0.05)
        if self.readyState != "live":
            raise MediaStreamError
        packet = av.Packet(self._clip.packets[self._n % len(self._clip.packets)])
        packet.pts = packet.dts = self._n * self._ticks
        packet.time_base = _VIDEO_CLOCK
        self._n += 1
        return packet


def _h264_only() -> list[RTCRtpCodecCapability]:
    """aiortc's H.264 codecs plus RTX, to force H.264 (the encoded clip is sent as it is)."""
    codecs = RTCRtpSender.getCapabilities("video").codecs
    return [c for c in codecs if c.mimeType.lower() in ("video/h264", "video/rtx")]


# --- the server --------------------------------------------------------------------------------------------------


class WhepServer:
    """A WHEP endpoint at http://127.0.0.1:PORT/whep serving `clip` (see the module docstring).

    `video_size`: (width, height) to serve, default the clip's own. `send_video=False` answers without a video
    track (the answer's video is inactive). `fail_with=(status, content_type, body)` answers every POST with that
    instead of a session. `timestamp_scale` < 1 makes the RTP clock run slow against the real-time sending (the
    viewer sees its frames fall ever further behind the stream, as when it cannot decode in real time).
    `posts`, `deleted` (session ids DELETEd by clients), `offers` and `answers` (SDPs) record what happened.
    """

    def __init__(
        self,
        clip: Path,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        video_size: tuple[int, int] | None = None,
        send_video: bool = True,
        fail_with: tuple[int, str, bytes] | None = None,
        timestamp_scale: float = 1.0,
    ) -> None:
        self.clip = _encode_clip(clip, video_size)
        self.token, self.user, self.password = token, user, password
        self.send_video = send_video
        self.fail_with = fail_with
        self.timestamp_scale = timestamp_scale
        self.posts = 0
        self.deleted: list[str] = []
        self.offers: list[str] = []
        self.answers: list[str] = []
        self._frozen = threading.Event()
        self._pcs: dict[str, RTCPeerConnection] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._rtc_ready = threading.Event()
        self._rtc_thread: threading.Thread | None = None
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._exit = ExitStack()
        self.port = 0

    # lifecycle

    def start(self) -> Self:
        self._exit.enter_context(loopback_ice())
        self._rtc_thread = threading.Thread(target=asyncio.run, args=(self._rtc_main(),), name="whep-server-rtc")
        self._rtc_thread.start()
        if not self._rtc_ready.wait(10):
            self.stop()
            raise RuntimeError("the WHEP server's asyncio loop did not start")
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = False  # server_close() joins the request threads
        self._httpd.block_on_close = True
        self.port = self._httpd.server_address[1]
        self._http_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="whep-server-http"
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        """Stop answering, close every session, join the threads, close the sockets. Idempotent."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._http_thread is not None:
            self._http_thread.join(10)
            self._http_thread = None
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._rtc_thread is not None:
            self._rtc_thread.join(10)
            self._rtc_thread = None
        self._loop = self._stopping = None
        self._exit.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # what tests use

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/whep"

    @property
    def whep_url(self) -> str:
        return f"whep://127.0.0.1:{self.port}/whep"

    @property
    def sessions(self) -> list[str]:
        """Ids of the sessions whose peer connection is not closed."""
        return [sid for sid, pc in list(self._pcs.items()) if pc.connectionState != "closed"]

    def kill_sessions(self) -> int:
        """Close every peer connection server-side (the viewers see the remote end close); returns how many."""
        return self._call(self._close_all())

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or resume) sending frames on every session while keeping the connections up."""
        if frozen:
            self._frozen.set()
        else:
            self._frozen.clear()

    # WebRTC side, on the server's loop thread

    async def _rtc_main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        self._rtc_ready.set()
        await self._stopping.wait()
        await self._close_all()

    async def _answer(self, offer: str) -> tuple[str, str]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        sid = uuid.uuid4().hex
        self._pcs[sid] = pc
        if self.send_video:
            track = _ClipTrack(self.clip, self._frozen, self.timestamp_scale)
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(_h264_only())
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception:
            await self._close(sid)
            raise
        return sid, pc.localDescription.sdp

    async def _close(self, sid: str) -> bool:
        pc = self._pcs.pop(sid, None)
        if pc is None:
            return False
        await pc.close()
        return True

    async def _close_all(self) -> int:
        sids = list(self._pcs)
        await asyncio.gather(*(self._close(sid) for sid in sids))
        return len(sids)

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("the WHEP server is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(_RTC_TIMEOUT_S)

    # HTTP side, on the request threads

    def _authorized(self, header: str | None) -> bool:
        if self.token is None and self.user is None:
            return True
        if self.token is not None and header == f"Bearer {self.token}":
            return True
        if self.user is not None:
            basic = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            return header == f"Basic {basic}"
        return False

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
                pass

            def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.split("?")[0] != "/whep":
                    return self._reply(404, b"no such stream")
                server.posts += 1
                if not server._authorized(self.headers.get("Authorization")):
                    return self._reply(401, b"unauthorized", WWW_Authenticate='Bearer realm="whep"')
                if server.fail_with is not None:
                    status, content_type, payload = server.fail_with
                    return self._reply(status, payload, content_type)
                if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/sdp":
                    return self._reply(415, b"the offer must be application/sdp")
                offer = body.decode(errors="replace")
                try:
                    sid, answer = server._call(server._answer(offer))
                except Exception as e:
                    return self._reply(400, f"bad offer: {e}".encode())
                server.offers.append(offer)
                server.answers.append(answer)
                return self._reply(201, answer.encode(), "application/sdp", Location=f"/whep/session/{sid}")

            def do_DELETE(self) -> None:
                prefix = "/whep/session/"
                if not self.path.startswith(prefix):
                    return self._reply(404, b"no such session")
                if not server._authorized(self.headers.get("Authorization")):
                    return self._reply(401, b"unauthorized")
                sid = self.path[len(prefix) :]
                if not server._call(server._close(sid)):
                    return self._reply(404, b"no such session")
                server.deleted.append(sid)
                return self._reply(200)

        return Handler
