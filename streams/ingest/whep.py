"""WebRTC camera sources through WHEP (WebRTC-HTTP Egress Protocol, draft-ietf-wish-whep), as a plain blocking iterator.

A WHEP viewer POSTs an SDP offer to the camera's (or media server's) WHEP endpoint, gets `201 Created` with
an SDP answer and a `Location` naming the session, and then receives the video over WebRTC (ICE + DTLS-SRTP,
UDP). Closing the viewer DELETEs the session. aiortc does the WebRTC part and decodes the video (VP8 or H.264,
whatever the server picks among those) on its own threads.

URLs:

* `whep://host:port/path` is plain HTTP, `wheps://host:port/path` HTTPS; `http://` and `https://` as usual.
* `whep://user:password@host/...` sends `Authorization: Basic ...` (user and password percent-decoded).
* `...?token=SECRET` sends `Authorization: Bearer SECRET` and is removed from the URL actually requested;
  it wins over user:password when both are given. Other query parameters are kept.

Credentials never appear in log lines or error messages (`user:pass@` becomes `***@`, `token=...` `token=***`),
and nothing the server sent is copied into them (HTTP status codes and sizes only).

Source policy: redirects are not followed automatically; at most `_MAX_REDIRECTS` are followed by hand, each target
(and the session URL DELETEd on close) checked with `schemas.source_policy` first and connected to at the very address
checked (Host header and TLS SNI carry the name, so certificates are still verified against it): a second DNS answer
never decides where a request goes, and a name that does not resolve is refused (rule unresolved). ICE candidates of
the answer are checked and given to aiortc as the checked address. The Authorization header goes only
to the origin (scheme, host, port) of the configured endpoint: a redirect or a `Location` on another origin gets none.

Threading: aiortc is asyncio, our ingest is threads. `open_whep` runs one asyncio loop per source in a
dedicated thread ("whep-<host>") and hands decoded frames to the consuming thread through a small queue that
drops the OLDEST frame when full, so a slow consumer always gets the freshest picture instead of an ever
older backlog. Setting `stop` or closing the generator ends the session (pc closed, session DELETEd) and joins
the thread within about a second.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

import av
import httpx
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from schemas.credentials import display_url
from schemas.source_policy import SourcePolicy, SourceRefused
from streams.ingest._whep_policy import checked_candidates, local_why, same_origin
from streams.ingest.errors import SourceError
from streams.ingest.frames import DecodedFrame
from streams.ingest.safe_http import pinned_request

__all__ = ["open_whep"]

_log = logging.getLogger(__name__)

_SCHEMES = {"whep": "http", "wheps": "https", "http": "http", "https": "https"}
_POLL_S = 0.1  # how often a waiting consumer looks at `stop`
_DELETE_TIMEOUT_S = 2.0  # the session DELETE on close must not hold the consumer up for long
_JOIN_TIMEOUT_S = 5.0
_CANCEL_WAIT_S = 1.0
_MAX_REDIRECTS = 3


@dataclass(frozen=True)
class _Endpoint:
    url: str  # what is requested: http(s), no credentials, no token
    shown: str  # the URL as given, redacted: for messages
    headers: dict[str, str]  # Authorization, when the URL carried credentials


def _endpoint(url: str) -> _Endpoint:
    shown = display_url(url)
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError as e:
        raise SourceError(f"WHEP URL {shown} has an invalid port: {e}.", reason="bad_stream") from e
    if scheme is None or not parts.hostname:
        raise SourceError(
            f"{shown} is not a WHEP URL: use whep://host:port/path (plain HTTP), wheps://host:port/path (HTTPS) "
            "or the endpoint's http(s):// URL.",
            reason="bad_stream",
        )
    headers: dict[str, str] = {}
    if parts.username is not None or parts.password is not None:
        user_pass = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")
    query = parse_qsl(parts.query, keep_blank_values=True)
    tokens = [v for k, v in query if k == "token"]
    if tokens:
        headers["Authorization"] = f"Bearer {tokens[-1]}"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    rest = urlencode([(k, v) for k, v in query if k != "token"])
    return _Endpoint(url=urlunsplit((scheme, netloc, parts.path or "/", rest, "")), shown=shown, headers=headers)


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception behind `error` (httpx/anyio wrap the OS error, e.g. ConnectionRefusedError)."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    return error


def _video_section(sdp: str) -> str | None:
    """The `m=video` section of an SDP, or None when there is none."""
    sections = re.split(r"\r?\n(?=m=)", sdp)
    return next((s for s in sections if s.startswith("m=video")), None)


def _codec(section: str) -> str:
    """The codec the answerer picked: its first payload type in the m= line, by rtpmap name."""
    fields = section.split(None, 4)
    if len(fields) < 4:
        return "unknown"
    m = re.search(rf"^a=rtpmap:{re.escape(fields[3])} ([^/\s]+)", section, re.MULTILINE)
    return m.group(1) if m else "unknown"


class _FrameQueue:
    """Bounded hand-over from the WHEP thread to the consumer; drops the oldest frame when full."""

    def __init__(self, size: int, on_drop: Callable[[], None] | None) -> None:
        self._items: deque[DecodedFrame] = deque()
        self._size = size
        self._on_drop = on_drop
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self.dropped = 0

    def put(self, item: DecodedFrame) -> None:
        dropped = False
        with self._cond:
            if len(self._items) >= self._size:
                self._items.popleft()
                self.dropped += 1
                dropped = True
            self._items.append(item)
            self._cond.notify()
        if dropped and self._on_drop is not None:
            self._on_drop()

    def fail(self, error: BaseException) -> None:
        """End the stream with `error` (raised to the consumer once the frames already queued are taken)."""
        with self._cond:
            if self._error is None:
                self._error = error
            self._cond.notify()

    def get(self, timeout: float) -> DecodedFrame | None:
        """The oldest queued frame; None if none came within `timeout`; raises the error the stream ended with."""
        with self._cond:
            if not self._items and self._error is None:
                self._cond.wait(timeout)
            if self._items:
                return self._items.popleft()
            if self._error is not None:
                raise self._error
            return None


class _WhepSession:
    """One WHEP session on its own asyncio loop thread: negotiate, receive into the queue, tear down."""

    def __init__(
        self,
        endpoint: _Endpoint,
        connect_timeout: float,
        queue: _FrameQueue,
        ice_servers: Sequence[str],
        policy: SourcePolicy | None = None,
    ) -> None:
        self._ep = endpoint
        self._policy = policy if policy is not None else SourcePolicy()
        self._timeout = connect_timeout
        self._queue = queue
        self._ice_servers = list(ice_servers)
        self._lock = threading.Lock()
        self._close_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._location: str | None = None
        host = urlsplit(endpoint.url).hostname or "?"
        self._thread = threading.Thread(target=self._thread_main, name=f"whep-{host}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Ask the session to end and wait for its thread (pc closed, session DELETEd)."""
        with self._lock:
            self._close_requested = True
            if self._loop is not None and self._closing is not None:
                self._loop.call_soon_threadsafe(self._closing.set)
        self._thread.join(_JOIN_TIMEOUT_S)
        if self._thread.is_alive():  # pragma: no cover - only when aiortc hangs in close()
            _log.warning("WHEP %s: session thread did not end within %.0f s", self._ep.shown, _JOIN_TIMEOUT_S)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:
            self._queue.fail(e)
        # Only reached with an error already queued, or after close() (then nobody reads any more).
        self._queue.fail(SourceError(f"WHEP source {self._ep.shown} ended unexpectedly.", reason="ended"))

    async def _main(self) -> None:
        closing = asyncio.Event()
        with self._lock:
            self._loop, self._closing = asyncio.get_running_loop(), closing
            if self._close_requested:
                closing.set()
        try:
            config = RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in self._ice_servers])
            pc = RTCPeerConnection(configuration=config)
            # No automatic redirects and no proxy from the environment: every target is checked by `_send`.
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False, trust_env=False) as http:
                work = asyncio.ensure_future(self._run(http, pc))
                stop = asyncio.ensure_future(closing.wait())
                try:
                    await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in (work, stop):
                        task.cancel()
                    await asyncio.wait({work, stop}, timeout=_CANCEL_WAIT_S)
                    if work.done() and not work.cancelled() and (error := work.exception()) is not None:
                        self._queue.fail(error)  # the consumer sees it now; its close() waits for the teardown
                    await self._teardown(http, pc)
                    # Closing the pc ends whatever aiortc still awaited: a cancellation cannot get lost here.
                    await asyncio.gather(work, stop, return_exceptions=True)
        finally:
            with self._lock:
                self._loop = self._closing = None

    def _headers_for(self, url: str) -> dict[str, str]:
        """The endpoint's Authorization header, only for its own origin."""
        return dict(self._ep.headers) if same_origin(url, self._ep.url) else {}

    async def _allowed(self, url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """What to request for `url` (the URL at the checked address, Host header, TLS SNI: `pinned_request`); raise
        SourceError (refused_by_policy) when the policy refuses its scheme or any address of its host, or the name
        does not resolve."""
        parts = urlsplit(url)
        try:
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise SourceRefused(
                    f"WHEP endpoint {self._ep.shown} redirected to a {parts.scheme or 'relative'}: URL, not http(s) "
                    "(rule scheme).",
                    "scheme",
                )
            what = f"{parts.scheme}://{parts.hostname} (WHEP, from {self._ep.shown})"
            return await asyncio.to_thread(pinned_request, url, self._policy, what=what)
        except SourceRefused as e:
            raise SourceError(str(e), reason="refused_by_policy") from None

    async def _send(
        self, http: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str]
    ) -> tuple[httpx.Response, str]:
        """POST `content` to `url`, following at most _MAX_REDIRECTS redirects by hand (the offer is POSTed again
        to each target), every hop checked by the policy first; the response and the URL (by name) it came from."""
        for _ in range(_MAX_REDIRECTS + 1):
            ip_url, host, extensions = await self._allowed(url)
            response = await http.post(
                ip_url, content=content, headers={**headers, **self._headers_for(url), **host}, extensions=extensions
            )
            if not (response.is_redirect and "location" in response.headers):
                return response, url
            url = urljoin(url, response.headers["location"])
        raise SourceError(
            f"WHEP endpoint {self._ep.shown} redirected more than {_MAX_REDIRECTS} times; give the final endpoint URL.",
            reason="bad_stream",
        )

    async def _run(self, http: httpx.AsyncClient, pc: RTCPeerConnection) -> None:
        shown, timeout = self._ep.shown, self._timeout
        loop = asyncio.get_running_loop()
        transceiver = pc.addTransceiver("video", direction="recvonly")
        state_changed = asyncio.Event()
        pc.add_listener("connectionstatechange", state_changed.set)

        await pc.setLocalDescription(await pc.createOffer())  # aiortc returns once ICE gathering is complete
        offer = pc.localDescription
        headers = {"Content-Type": "application/sdp", "Accept": "application/sdp"}
        try:
            response, answered_by = await self._send(http, self._ep.url, offer.sdp.encode(), headers)
        except httpx.TimeoutException as e:
            raise SourceError(
                f"WHEP endpoint {shown} did not answer within {timeout:g} s ({type(e).__name__}). Check the host and "
                "port, and that the WHEP server is up and not overloaded.",
                reason="unreachable",
            ) from e
        except httpx.HTTPError as e:
            cause = _root_cause(e)
            refused = isinstance(cause, ConnectionRefusedError)
            raise SourceError(
                f"Cannot reach WHEP endpoint {shown}: {local_why(cause)}. Check the host and port in "
                "the URL and that the camera / WHEP server is running and reachable from here.",
                reason="refused" if refused else "unreachable",
            ) from e

        status = response.status_code
        if status in (401, 403):
            raise SourceError(
                f"WHEP endpoint {shown} refused the session with HTTP {status}: check the "
                "credentials/token (whep://user:password@host/... for Basic auth, ?token=... for a Bearer token).",
                reason="unauthorized",
            )
        if status != 201:
            size = len(response.content)  # the server's words are never copied into status or logs
            raise SourceError(
                f"WHEP endpoint {shown} answered HTTP {status} ({size} bytes) instead of 201 Created. Check that "
                "the URL is the stream's WHEP endpoint (often .../whep) "
                "and that the stream exists and is publishing.",
                reason="not_found" if status == 404 else "bad_stream",
            )
        if location := response.headers.get("location"):
            self._location = urljoin(answered_by, location)
        else:
            _log.info("WHEP %s gave no Location: the session cannot be DELETEd on close", shown)

        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        answer = response.text
        if content_type != "application/sdp" or not answer.lstrip().startswith("v=0"):
            raise SourceError(
                f"WHEP endpoint {shown} answered 201 with {'another' if content_type else 'no'} content type, not an "
                "SDP answer "
                "(application/sdp). Check that the URL is a WHEP endpoint and not, e.g., a web page or WHIP endpoint.",
                reason="not_video",
            )
        # The media goes wherever the answer's ICE candidates say: each is checked like the endpoint itself.
        answer = await asyncio.to_thread(checked_candidates, answer, self._policy, shown)
        section = _video_section(answer)
        if section is None or section.split(None, 2)[1:2] == ["0"]:
            raise SourceError(
                f"WHEP endpoint {shown} offers no video track (its SDP answer rejects or lacks the video m-line). "
                "Check that the stream publishes video in a codec aiortc decodes (VP8 or H.264).",
                reason="not_video",
            )
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as e:
            raise SourceError(
                f"WHEP endpoint {shown} sent an SDP answer that cannot be used ({type(e).__name__}).",
                reason="bad_stream",
            ) from e
        if transceiver.currentDirection not in ("recvonly", "sendrecv"):
            raise SourceError(
                f"WHEP endpoint {shown} offers no video track (video direction {transceiver.currentDirection!r}). "
                "Check that the stream is publishing video.",
                reason="not_video",
            )
        codec = _codec(section)

        deadline = loop.time() + timeout
        while pc.connectionState != "connected":
            state_changed.clear()
            remaining = deadline - loop.time()
            if pc.connectionState in ("failed", "closed") or remaining <= 0:
                raise SourceError(
                    f"WebRTC connection to {shown} did not come up within {timeout:g} s (ICE "
                    f"{pc.iceConnectionState}, connection {pc.connectionState}). The HTTP exchange worked, so check "
                    "that UDP between here and the server is open (WebRTC media does not use the HTTP port), or give "
                    "a STUN/TURN server in ice_servers.",
                    reason="unreachable",
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await state_changed.wait()
        _log.info("WHEP %s connected, receiving %s", shown, codec)

        track: MediaStreamTrack = transceiver.receiver.track
        start = time.monotonic()
        best_offset: float | None = None  # smallest (arrival - stream time) so far: the lag-free delay
        while True:
            try:
                # Not asyncio.wait_for: on Python 3.11 it can swallow the cancellation that ends the session
                # when a frame arrives at the same moment (seen here: close() then waited for ever).
                async with asyncio.timeout(timeout):
                    frame = await track.recv()
            except TimeoutError:
                raise SourceError(
                    f"WHEP stream {shown} stalled: no video frame for {timeout:g} s while connected "
                    f"(connection {pc.connectionState}). Check that the camera is still publishing; reconnect.",
                    reason="stalled",
                ) from None
            except MediaStreamError:
                raise SourceError(
                    f"WHEP server {shown} closed the connection (connection {pc.connectionState}): the stream "
                    "ended or the server dropped the session. Reconnect; if it keeps happening check the server log.",
                    reason="ended",
                ) from None
            if not isinstance(frame, av.VideoFrame):
                continue
            now = time.monotonic()
            if frame.pts is not None and frame.time_base is not None:
                t = float(frame.pts * frame.time_base)
                # aiortc decodes every frame it receives, into an unbounded queue: when decoding falls behind
                # the stream, the backlog (and its memory) only grows. Stop while it is still small.
                offset = now - t
                best_offset = offset if best_offset is None else min(best_offset, offset)
                if (lag := offset - best_offset) > timeout:
                    raise SourceError(
                        f"WHEP stream {shown} is lagging: frames come out of the decoder {lag:.1f} s behind the "
                        "stream (the CPU cannot decode it in real time, or the network delivers it late). Lower "
                        "the camera's resolution or frame rate, or give the ingest more CPU.",
                        reason="lagging",
                    )
            else:
                t = now - start
            self._queue.put(
                DecodedFrame(t=t, pts_us=round(t * 1_000_000), width=frame.width, height=frame.height, frame=frame)
            )

    async def _teardown(self, http: httpx.AsyncClient, pc: RTCPeerConnection) -> None:
        await pc.close()
        if self._location is None:
            return
        try:
            ip_url, host, extensions = await self._allowed(self._location)
            # Authorization only to the endpoint's own origin; no redirect followed for a DELETE.
            headers = {**self._headers_for(self._location), **host}
            response = await http.delete(ip_url, headers=headers, timeout=_DELETE_TIMEOUT_S, extensions=extensions)
        except SourceError as e:
            _log.warning("WHEP %s: session not DELETEd: %s", self._ep.shown, e)
            return
        except httpx.HTTPError as e:
            _log.info("WHEP %s: could not DELETE the session: %s", self._ep.shown, e or type(e).__name__)
            return
        if response.status_code >= 400 and response.status_code != 404:
            _log.info("WHEP %s: DELETE of the session answered HTTP %d", self._ep.shown, response.status_code)


def open_whep(
    url: str,
    *,
    connect_timeout: float = 10.0,
    stop: threading.Event | None = None,
    queue_size: int = 2,
    on_drop: Callable[[], None] | None = None,
    ice_servers: Sequence[str] = (),
    policy: SourcePolicy | None = None,
) -> Generator[DecodedFrame, None, None]:
    """Receive the video of a WHEP endpoint as decoded frames.

    `connect_timeout` bounds each phase: the HTTP exchange, ICE/DTLS connecting, and the gap between two
    frames once connected (longer: "stream stalled"). At most `queue_size` frames wait for the consumer; when
    a new one arrives on a full queue the oldest is dropped and `on_drop()` is called (on the WHEP thread, so
    keep it cheap and thread-safe). `ice_servers`: STUN/TURN URLs (e.g. "stun:stun.example.org:3478"); none by
    default, which suffices when the server has a reachable host candidate.

    Ends without error when `stop` is set or the generator is closed; raises `SourceError` for everything
    else (unreachable, refused credentials, bad answer, no video, no connection, stalled, closed by the server,
    decoding more than `connect_timeout` seconds behind the stream, refused by the source `policy` — None: from
    the environment); its `reason` is the status-event code.
    `t` of a frame is its RTP time in seconds since the stream's first frame (monotonic time when a frame
    has no timestamp), `pts_us` the same in microseconds.
    """
    if queue_size < 1:
        raise ValueError(f"queue_size must be at least 1, not {queue_size}")
    if connect_timeout <= 0:
        raise ValueError(f"connect_timeout must be positive, not {connect_timeout}")
    queue = _FrameQueue(queue_size, on_drop)
    session = _WhepSession(_endpoint(url), connect_timeout, queue, ice_servers, policy)
    session.start()
    try:
        while stop is None or not stop.is_set():
            frame = queue.get(_POLL_S)
            if frame is not None:
                yield frame
    finally:
        session.close()
