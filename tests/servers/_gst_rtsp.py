"""RTSP server process for the tests: serves an H.264 MP4 clip, looped forever in real time, without re-encoding.

Runs under the system Python (`/usr/bin/python3`), which has python3-gi and gst-rtsp-server; the venv has no `gi`.
`tests/servers/rtsp.py` starts it. The clip's H.264 access units are demuxed once at start (qtdemux + h264parse into
an appsink); every RTSP session then gets its own pipeline `appsrc ! h264parse ! rtph264pay` fed from memory, with
timestamps that keep growing across loops, so the stream never ends and always starts on a keyframe. The sinks of
gst-rtsp-server sync to the clock, which paces the stream in real time. RTP over TCP (interleaved) and over UDP are
both offered; UDP ports are taken from an address pool on 127.0.0.1 only.

Prints `READY <port>` on stdout once the server listens. Exits on SIGTERM/SIGINT, when its parent dies, or after
--max-seconds.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
from dataclasses import dataclass

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: E402

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class AccessUnit:
    data: bytes
    pts: int
    dts: int
    duration: int
    delta: bool


@dataclass(frozen=True)
class Clip:
    units: list[AccessUnit]
    caps: str
    period_ns: int  # one loop of the clip, in nanoseconds


def load_clip(path: str, timeout_s: float = 60.0) -> Clip:
    """Demux the clip's video track into H.264 byte-stream access units (SPS/PPS before every keyframe)."""
    pipeline = Gst.parse_launch(
        "filesrc name=file ! qtdemux name=d d.video_0 ! queue "
        "! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au "
        "! appsink name=sink sync=false"
    )
    pipeline.get_by_name("file").set_property("location", path)
    sink = pipeline.get_by_name("sink")
    assert isinstance(sink, GstApp.AppSink)
    pipeline.set_state(Gst.State.PLAYING)
    units: list[AccessUnit] = []
    caps = ""
    try:
        for _ in range(1_000_000):  # bounded: far more frames than any test clip has
            sample = sink.try_pull_sample(int(timeout_s * Gst.SECOND))
            if sample is None:
                if sink.is_eos():
                    break
                raise RuntimeError(f"timed out reading {path}")
            buf = sample.get_buffer()
            if not caps:
                caps = sample.get_caps().to_string()
            pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else 0
            dts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else pts
            units.append(
                AccessUnit(
                    data=buf.extract_dup(0, buf.get_size()),
                    pts=pts,
                    dts=dts,
                    duration=buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0,
                    delta=bool(buf.get_flags() & Gst.BufferFlags.DELTA_UNIT),
                )
            )
    finally:
        pipeline.set_state(Gst.State.NULL)
    if not units:
        raise RuntimeError(f"no H.264 video in {path}")
    frame = units[0].duration or Gst.SECOND // 30
    period = max(u.pts + (u.duration or frame) for u in units) - min(u.pts for u in units)
    return Clip(units=units, caps=caps, period_ns=period)


class Feeder:
    """Pushes the clip into one session's appsrc, one access unit per need-data, looping with growing timestamps."""

    def __init__(self, clip: Clip) -> None:
        self.clip = clip
        self.index = 0
        self.loop = 0

    def need_data(self, src: GstApp.AppSrc, _length: int) -> None:
        unit = self.clip.units[self.index]
        offset = self.loop * self.clip.period_ns
        buf = Gst.Buffer.new_wrapped(unit.data)
        buf.pts = unit.pts + offset
        buf.dts = unit.dts + offset
        buf.duration = unit.duration or Gst.CLOCK_TIME_NONE
        if unit.delta:
            buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
        self.index += 1
        if self.index == len(self.clip.units):
            self.index = 0
            self.loop += 1
        src.push_buffer(buf)


def make_factory(clip: Clip, user: str | None, password: str | None) -> GstRtspServer.RTSPMediaFactory:
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( appsrc name=src format=time is-live=false max-bytes=2000000 caps="{clip.caps}" '
        "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )
    factory.set_shared(False)  # every client gets its own pipeline, starting on the clip's first keyframe
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    pool = GstRtspServer.RTSPAddressPool()
    pool.add_range("127.0.0.1", "127.0.0.1", 20000, 60000, 0)  # unicast UDP binds to loopback only
    factory.set_address_pool(pool)

    def configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
        src = media.get_element().get_by_name_recurse_up("src")
        feeder = Feeder(clip)
        src.connect("need-data", feeder.need_data)
        media.feeder = feeder  # keep it alive as long as the media

    factory.connect("media-configure", configure)
    if user is not None:
        role = Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
        factory.add_role_from_structure(role)
    return factory


def make_server(port: int, path: str, clip: Clip, user: str | None, password: str | None) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_mount_points().add_factory(path, make_factory(clip, user, password))
    if user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password or ""), token)
        server.set_auth(auth)
    return server


def die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent and os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1; 0 picks a free one")
    p.add_argument("--clip", required=True)
    p.add_argument("--path", default="/cam")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--max-seconds", type=float, default=1800.0, help="exit after this long, whatever happens")
    p.add_argument("--parent-pid", type=int, default=0, help="exit when this process dies")
    args = p.parse_args(argv)
    die_with_parent(args.parent_pid)

    Gst.init(None)
    clip = load_clip(args.clip)
    server = make_server(args.port, args.path, clip, args.user, args.password)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 1

    def quit_loop(*_: object) -> bool:
        loop.quit()
        return False  # GLib.SOURCE_REMOVE

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, quit_loop)
    GLib.timeout_add(int(args.max_seconds * 1000), quit_loop)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
