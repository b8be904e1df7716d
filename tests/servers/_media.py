"""Media preparation for the HTTP test servers, done once at server start with PyAV (FFmpeg) and OpenCV:
JPEG frames for MJPEG, HLS segments, and an MPEG-TS whose resolution changes mid-stream."""

from __future__ import annotations

import io
import itertools
from collections.abc import Generator
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.frame import VideoFrame
from av.video.stream import VideoStream


def clip_rate(clip: Path) -> Fraction:
    """The clip's average frame rate (frames per second)."""
    with av.open(str(clip)) as container:
        rate = container.streams.video[0].average_rate
    return Fraction(rate) if rate else Fraction(25)


def decode_frames(clip: Path, *, loop: bool = False, max_loops: int = 100) -> Generator[VideoFrame, None, None]:
    """The clip's video frames in order; with `loop`, start again at the end (at most `max_loops` times)."""
    for _ in range(max_loops if loop else 1):
        with av.open(str(clip)) as container:
            yield from container.decode(video=0)


def jpeg_frames(clip: Path, *, max_frames: int = 100, width: int | None = None, quality: int = 80) -> list[bytes]:
    """The clip's first `max_frames` frames as JPEG images, downscaled to `width` pixels wide when given."""
    images: list[bytes] = []
    for frame in itertools.islice(decode_frames(clip), max_frames):
        bgr: np.ndarray = frame.to_ndarray(format="bgr24")
        if width is not None and width != bgr.shape[1]:
            height = max(2, round(bgr.shape[0] * width / bgr.shape[1]))
            bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("cv2.imencode failed")
        images.append(encoded.tobytes())
    if not images:
        raise ValueError(f"no video frames in {clip}")
    return images


def max_keyframe_gap_s(clip: Path) -> float:
    """The longest stretch of the clip without a keyframe, in seconds (demuxing only, no decoding)."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 90000)
        keys: list[int] = []
        last = 0
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            last = max(last, packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
    if not keys:
        return float("inf")
    edges = [*sorted(keys), last]
    return float(max(b - a for a, b in itertools.pairwise(edges)) * tb)


def _x264_stream(out: av.container.OutputContainer, rate: Fraction, width: int, height: int, gop: int) -> VideoStream:
    stream = out.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = gop
    stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "sc_threshold": "0"}
    return stream


def build_hls(
    clip: Path, out_dir: Path, *, segment_seconds: float, reencode: bool | None = None, max_seconds: float | None = None
) -> Path:
    """Write `out_dir/index.m3u8` (VOD playlist) and its MPEG-TS segments from `clip`; return the playlist path.

    The H.264 packets are remuxed as they are when the clip has keyframes often enough for `segment_seconds`;
    otherwise (or with `reencode=True`) the video is re-encoded with libx264 (ultrafast) with a keyframe at every
    segment boundary. `max_seconds` keeps only the start of the clip.
    """
    if reencode is None:
        reencode = max_keyframe_gap_s(clip) > segment_seconds * 1.5
    playlist = out_dir / "index.m3u8"
    options = {
        "hls_time": f"{segment_seconds:g}",
        "hls_list_size": "0",
        "hls_playlist_type": "vod",
        "hls_segment_filename": str(out_dir / "seg%05d.ts"),
    }
    with av.open(str(clip)) as src, av.open(str(playlist), "w", format="hls", options=options) as out:
        in_stream = src.streams.video[0]
        limit = None if max_seconds is None else int(max_seconds / float(in_stream.time_base or Fraction(1, 90000)))
        if reencode:
            rate = Fraction(in_stream.average_rate or 25)
            gop = max(1, round(float(rate) * segment_seconds))
            out_stream = _x264_stream(out, rate, in_stream.codec_context.width, in_stream.codec_context.height, gop)
            for frame in src.decode(in_stream):
                if limit is not None and frame.pts is not None and frame.pts > limit:
                    break
                frame.pict_type = av.video.frame.PictureType.NONE
                out.mux(out_stream.encode(frame))
            out.mux(out_stream.encode(None))
        else:
            out_stream = out.add_stream_from_template(in_stream)
            for packet in src.demux(in_stream):
                if packet.dts is None:
                    continue
                if limit is not None and packet.pts is not None and packet.pts > limit:
                    break
                packet.stream = out_stream
                out.mux(packet)
    return playlist


def resolution_change_ts(
    clip: Path, *, sizes: list[tuple[int, int]], seconds_each: float, cycles: int
) -> tuple[bytes, float]:
    """One MPEG-TS (H.264, libx264) whose resolution steps through `sizes`, `seconds_each` per size, `cycles` times.

    Every size gets its own encoder, so each part starts with an IDR frame carrying its SPS/PPS; all parts go into
    one stream with continuous timestamps. Returns the TS bytes and their duration in seconds.
    """
    rate = clip_rate(clip)
    per_part = max(1, round(float(rate) * seconds_each))
    buf = io.BytesIO()
    index = 0
    with closing(decode_frames(clip, loop=True)) as frames, av.open(buf, "w", format="mpegts") as out:
        w0, h0 = sizes[0]
        stream = _x264_stream(out, rate, w0, h0, gop=per_part)
        for _cycle, (width, height) in itertools.product(range(cycles), sizes):
            encoder = av.CodecContext.create("libx264", "w")
            assert isinstance(encoder, av.VideoCodecContext)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.time_base = 1 / rate
            encoder.framerate = rate
            encoder.gop_size = per_part
            encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
            for frame in itertools.islice(frames, per_part):
                small = frame.reformat(width=width, height=height, format="yuv420p")
                small.pts, small.time_base = index, encoder.time_base
                index += 1
                for packet in encoder.encode(small):
                    packet.stream = stream
                    out.mux(packet)
            for packet in encoder.encode(None):
                packet.stream = stream
                out.mux(packet)
    return buf.getvalue(), index / float(rate)
