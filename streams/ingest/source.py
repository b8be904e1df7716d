"""Camera sources through FFmpeg (PyAV): RTSP (TCP/UDP), HTTP MJPEG, HLS, files — and WebRTC/WHEP via aiortc.

A source yields `DecodedFrame`s already sampled to the target fps. It never builds a backlog of its own:
- with `decode=KEYFRAMES` (or AUTO when the camera's key-frame interval is at most the sampling period) only key
  frames reach the decoder, the rest are skipped as packets;
- a live source that falls more than `max_lag_s` behind the camera skips packets up to the next key frame
  (counted as lag drops) instead of decoding its way through a growing delay;
- MJPEG frames are passed through as the JPEG the camera sent (no decode, no re-encode) unless they must be scaled.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import av

from schemas.cameras import redact
from schemas.credentials import display_url
from schemas.jpeg import jpeg_size
from schemas.source_policy import (
    SourcePolicy,
    SourceRefused,
    check_source,
    is_live,
    pinned_url,
    resolve_protocol,
    source_path,
)
from streams.ingest.errors import SourceError, classify
from streams.ingest.frames import DecodedFrame
from streams.ingest.safe_http import FileOpener, SafeOpener
from streams.ingest.sampler import FpsSampler

__all__ = [
    "ReadStats",
    "SourceSpec",
    "is_live",
    "open_frames",
    "open_source",
    "redact",
    "resolve_protocol",
]

#: FFmpeg protocols each camera protocol may use (protocol_whitelist): no file:, concat:, subfile:, data:, pipe: ...
#: rtp and udp only for RTSP over UDP: elsewhere an SDP (an RTSP DESCRIBE answer, a probed stream) could make FFmpeg
#: open rtp://<any address> or udp:// without asking us. RTSP in the generic FFMPEG protocol is read over TCP.
#: HTTP(S) and FILE sources are opened through our own io_open (SafeOpener, FileOpener), which checks every open.
_WHITELIST = {
    "RTSP_TCP": "rtsp,rtsps,tcp,tls",
    "RTSP_UDP": "rtsp,rtsps,rtp,udp,tcp,tls",
    "HTTP_MJPEG": "http,https,tcp,tls",
    "HLS": "http,https,tcp,tls,crypto",
    "FFMPEG": "http,https,rtsp,rtsps,rtmp,rtmps,srt,tcp,tls",
    "FILE": "file",
}


@dataclass(frozen=True)
class SourceSpec:
    """How to read one camera. Times are seconds."""

    url: str
    protocol: str = "AUTO"
    fps: float = 10.0  # target sampled fps; 0 keeps every frame
    decode: str = "AUTO"  # AUTO | ALL | KEYFRAMES
    loop: bool = False  # files: start again at the end
    realtime: bool = False  # files: pace to their own timestamps, as a camera would deliver them
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    max_lag_s: float = 2.0  # live sources: skip to the next key frame when further behind than this
    decode_threads: int = 1
    policy: SourcePolicy | None = None  # the source policy checked at every connect; None: from the environment


@dataclass
class ReadStats:
    """Counters a source updates while it reads (read by metrics and status; written by one reader thread)."""

    decoded: int = 0
    decode_s: float = 0.0
    skipped_packets: int = 0  # non-key packets never decoded (KEYFRAMES mode)
    lag_dropped: int = 0  # packets skipped to catch up with a live camera
    keyframes_only: bool = False
    behind_s: float = 0.0  # how far reading trails the source's own clock (files paced in real time, live streams)
    nominal_fps: float | None = None
    on_lag: Callable[[], None] | None = field(default=None, repr=False)


def _ffmpeg_options(protocol: str, spec: SourceSpec) -> tuple[str | None, dict[str, str]]:
    us = str(int(spec.read_timeout_s * 1_000_000))
    allow = {"protocol_whitelist": _WHITELIST.get(protocol, "file")}
    if protocol in ("RTSP_TCP", "RTSP_UDP"):
        transport = "tcp" if protocol == "RTSP_TCP" else "udp"
        return None, {**allow, "rtsp_transport": transport, "timeout": us}
    if protocol == "HTTP_MJPEG":
        return "mpjpeg", {**allow, "timeout": us}
    if protocol == "FFMPEG" and spec.url.lower().startswith(("rtsp://", "rtsps://")):
        return None, {**allow, "rtsp_transport": "tcp", "timeout": us}  # no rtp/udp in its whitelist
    if protocol in ("HLS", "FFMPEG"):
        return None, {**allow, "timeout": us} if _http(spec.url) else allow
    return None, allow


def _http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _policy_check(spec: SourceSpec, protocol: str) -> SourcePolicy:
    """The policy of `spec`, after checking its source with it (DNS resolved now: at every connect; a name that
    does not resolve is refused, rule unresolved)."""
    policy = spec.policy if spec.policy is not None else SourcePolicy()
    try:
        check_source(spec.url, protocol, policy, connect=True)
    except SourceRefused as e:
        raise SourceError(str(e), "refused_by_policy") from None
    return policy


def _shown(text: str, url: str) -> str:
    """A message about camera `url` as it may leave the worker: the URL as stored and shown (display_url: userinfo,
    query values and stream keys masked, whatever their names), then the one redaction for anything else in it
    (FFmpeg's own text can repeat the URL)."""
    return redact(text.replace(url, display_url(url)))


def _why(e: BaseException) -> str:
    """The driver's reason without the errno noise and the repeated file name."""
    return str(getattr(e, "strerror", None) or e)


def open_source(
    spec: SourceSpec, stop: threading.Event | None = None, stats: ReadStats | None = None
) -> Iterator[DecodedFrame]:
    """Open `spec` and yield its frames sampled to `spec.fps`. Raises SourceError (with a reason) on failure,
    including the end of a live stream; a file without `loop` just ends."""
    protocol = resolve_protocol(spec.url, spec.protocol)
    stop = stop or threading.Event()
    stats = stats or ReadStats()
    policy = _policy_check(spec, protocol)
    if protocol == "WHEP":
        from streams.ingest.whep import open_whep

        sampler = FpsSampler(spec.fps)

        def dropped() -> None:  # the consumer fell behind the WebRTC stream: the oldest frame made way
            stats.lag_dropped += 1
            if stats.on_lag is not None:
                stats.on_lag()

        frames = open_whep(spec.url, connect_timeout=spec.open_timeout_s, stop=stop, on_drop=dropped, policy=policy)
        for f in frames:
            stats.decoded += 1
            if sampler.accept(f.t):
                yield f
        return
    yield from _read_ffmpeg(spec, protocol, stop, stats, policy)


def _refused(opener: SafeOpener | FileOpener | None) -> SourceError | None:
    """The policy refusal behind `e` (an open of a redirect or nested URL the policy refused), if that is it."""
    if opener is None or opener.refused is None:
        return None
    return SourceError(f"{opener.refused}", "refused_by_policy")


def _target(spec: SourceSpec, protocol: str, policy: SourcePolicy) -> str:
    """What FFmpeg is given to open. A file: its real path (the one the policy checked). HTTP(S): the URL (every hop
    is pinned by SafeOpener). RTSP, RTMP, SRT: the URL with its host replaced by the address the policy checked just
    now, so FFmpeg never resolves the name itself (DNS rebinding). TLS (rtsps, rtmps) is not verified by FFmpeg, as
    before; with an address it sends no SNI name."""
    if protocol == "FILE":
        return "file:" + os.path.realpath(source_path(spec.url))
    if _http(spec.url):
        return spec.url
    try:
        return pinned_url(spec.url, policy, what=display_url(spec.url))[0]
    except SourceRefused as e:
        raise SourceError(str(e), "refused_by_policy") from None


def _open(
    spec: SourceSpec, protocol: str, opener: SafeOpener | FileOpener | None, policy: SourcePolicy
) -> av.container.InputContainer:
    fmt, options = _ffmpeg_options(protocol, spec)
    url = _target(spec, protocol, policy)
    timeout = (spec.open_timeout_s, spec.read_timeout_s)
    try:
        return av.open(url, format=fmt, options=options, timeout=timeout, io_open=opener)
    except (av.error.FFmpegError, OSError) as e:
        if (refused := _refused(opener)) is not None:
            raise refused from None
        reason, advice = classify(e)
        # FFmpeg's message repeats the URL, credentials included: redact the whole text
        raise SourceError(
            _shown(f"Cannot open camera source {spec.url} ({protocol}): {_why(e)}. {advice}.", spec.url), reason
        ) from e


def _read_ffmpeg(
    spec: SourceSpec, protocol: str, stop: threading.Event, stats: ReadStats, policy: SourcePolicy
) -> Iterator[DecodedFrame]:
    # HTTP-based demuxers open through SafeOpener: every hop (redirects, playlists, segments) checked by the policy;
    # files through FileOpener: whatever a playlist or list file names must be under the allowed directories too.
    opener: SafeOpener | FileOpener | None = None
    if _http(spec.url):
        opener = SafeOpener(policy, spec.open_timeout_s, spec.read_timeout_s)
    elif protocol == "FILE":
        opener = FileOpener(policy)
    try:
        container = _open(spec, protocol, opener, policy)
    except BaseException:
        if opener is not None:
            opener.close()
        raise
    live = protocol != "FILE"
    try:
        if not container.streams.video:
            raise SourceError(
                f"Camera source {display_url(spec.url)} has no video stream (streams: "
                f"{[s.type for s in container.streams]}): point it at the camera's video stream.",
                "not_video",
            )
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if spec.decode_threads == 1:
            ctx.thread_count = 1  # many cameras per pod: frame threads of one camera only steal cores
        else:
            stream.thread_type = "AUTO"
            ctx.thread_count = spec.decode_threads
        passthrough = ctx.name == "mjpeg"
        stats.nominal_fps = float(stream.average_rate) if stream.average_rate else None
        tb = float(stream.time_base) if stream.time_base else 0.0
        sampler = FpsSampler(spec.fps)
        period = 1.0 / spec.fps if spec.fps > 0 else 0.0
        keyframes_only = spec.decode == "KEYFRAMES"
        last_key_t: float | None = None
        catching_up = False
        offset = 0.0  # added to timestamps after each loop of a file, so time keeps increasing
        t_first: float | None = None
        mono_first = 0.0
        n = 0
        last_t = 0.0
        reached_edge = False
        # MJPEG over HTTP has no timestamps (FFmpeg counts packets at a made-up 25 fps): use arrival time.
        wallclock = container.format.name == "mpjpeg"
        mono_open = time.monotonic()
        while True:
            packets = container.demux(stream)
            while True:
                t_read = time.monotonic()
                packet = next(packets, None)
                if packet is None:
                    break
                # A read that had to wait for the network means nothing older is buffered: the live edge.
                at_edge = time.monotonic() - t_read > 0.002
                if stop.is_set():
                    return
                if packet.size == 0:  # end of stream: drain the frames the decoder still holds
                    if not passthrough and not keyframes_only:
                        for frame in ctx.decode(None):
                            stats.decoded += 1
                            ft = frame.pts * tb + offset if frame.pts is not None and tb else last_t
                            if sampler.accept(ft):
                                yield DecodedFrame(
                                    t=ft, pts_us=int(ft * 1e6), width=frame.width, height=frame.height, frame=frame
                                )
                    continue
                n += 1
                if wallclock:
                    t = time.monotonic() - mono_open
                elif packet.pts is not None and tb:
                    t = packet.pts * tb + offset
                else:
                    t = n / (stats.nominal_fps or 25.0) + offset
                last_t = max(last_t, t)
                if t_first is None:
                    t_first, mono_first = t, time.monotonic()
                is_key = bool(packet.is_keyframe)
                if is_key:
                    if spec.decode == "AUTO" and last_key_t is not None and period:
                        gop = t - last_key_t
                        keyframes_only = 0 < gop <= period * 1.05
                    last_key_t = t
                stats.keyframes_only = keyframes_only
                behind = (time.monotonic() - mono_first) - (t - t_first)
                stats.behind_s = behind
                if spec.realtime and not live and behind < 0:
                    if keyframes_only and not is_key:
                        pass  # skipped below without waiting: only frames we use are paced
                    elif stop.wait(-behind):
                        return
                if live and spec.max_lag_s > 0:
                    if not catching_up and behind > spec.max_lag_s:
                        # Reading fell behind the camera (decoding too slow): skip everything buffered up to the
                        # live edge, then resume at the next key frame, instead of decoding through a growing delay.
                        catching_up, reached_edge = True, False
                        if stats.on_lag is not None:
                            stats.on_lag()
                    if catching_up:
                        reached_edge = reached_edge or at_edge
                        if not (reached_edge and is_key):
                            stats.lag_dropped += 1
                            continue
                        # Resume here and measure lag afresh, so a camera that merely paused (its timestamps now
                        # trail the wall clock for good) is not taken for a slow reader again.
                        catching_up = False
                        t_first, mono_first = t, time.monotonic()
                    elif behind < -spec.max_lag_s * 5:  # the stream restarted its clock: re-anchor
                        t_first, mono_first = t, time.monotonic()
                if keyframes_only and not is_key:
                    stats.skipped_packets += 1
                    continue
                if passthrough:
                    if sampler.accept(t):
                        data = bytes(packet)
                        size = jpeg_size(data) or (ctx.width, ctx.height)
                        stats.decoded += 1
                        pts_us = None if wallclock else int(t * 1e6)  # arrival time is not a stream timestamp
                        yield DecodedFrame(t=t, pts_us=pts_us, width=size[0], height=size[1], jpeg=data)
                    continue
                t0 = time.perf_counter()
                frames = ctx.decode(packet)
                stats.decode_s += time.perf_counter() - t0
                for frame in frames:
                    stats.decoded += 1
                    ft = frame.pts * tb + offset if frame.pts is not None and tb else t
                    if sampler.accept(ft):
                        yield DecodedFrame(
                            t=ft, pts_us=int(ft * 1e6), width=frame.width, height=frame.height, frame=frame
                        )
            if not live and spec.loop and not stop.is_set():
                container.seek(0)
                ctx.flush_buffers()
                offset = last_t + (1.0 / stats.nominal_fps if stats.nominal_fps else 0.04)
                last_key_t = None
                continue
            break
        if (refused := _refused(opener)) is not None:  # e.g. every segment of a playlist was refused
            raise refused
        if live:
            raise SourceError(
                f"Camera source {display_url(spec.url)} ended the stream; it is retried with backoff.", "ended"
            )
    except SourceError:
        if (refused := _refused(opener)) is not None:  # e.g. "no video stream": every segment was refused
            raise refused from None
        raise
    except (av.error.FFmpegError, OSError) as e:  # e.g. EIO when an HTTP stream of unknown length ends
        if (refused := _refused(opener)) is not None:
            raise refused from None
        reason, advice = classify(e)
        raise SourceError(
            _shown(f"Reading camera source {spec.url} failed: {_why(e)}. {advice}.", spec.url), reason
        ) from e
    finally:
        container.close()
        if opener is not None:
            opener.close()


def open_frames(url: str, realtime: bool = False, decode_threads: int = 1) -> Iterator[DecodedFrame]:
    """Every frame of `url` (no sampling): what the demo reads to rebuild ingest's frames for its model benchmark."""
    spec = SourceSpec(url=url, fps=0, decode="ALL", realtime=realtime, decode_threads=decode_threads, max_lag_s=0)
    yield from open_source(spec)
