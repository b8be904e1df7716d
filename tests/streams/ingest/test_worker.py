"""Ingest against the real broker and the real sample clip."""

import itertools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from schemas import codec
from streams.ingest import IngestSettings, IngestWorker, SourceError, camera_id_for, redact
from tests.conftest import CLIP
from tests.kafka_helpers import read_all


@pytest.mark.integration
def test_clip_is_sampled_encoded_and_keyed(bootstrap: str, make_topic: Callable[..., str], unique: str) -> None:
    topic, statuses, stills = make_topic("frames", 3), make_topic("status", 3), make_topic("stills", 3)
    s = IngestSettings(
        kafka_bootstrap=bootstrap,
        source=str(CLIP),
        camera_id=f"cam-{unique}",
        fps=10,
        max_frames=20,
        frames_topic=topic,
        camera_status_topic=statuses,
        snapshots_topic=stills,
        metrics_port=0,
    )
    res = IngestWorker(s).run()
    assert res.frames == 20 and 58 <= res.decoded <= 60
    msgs = read_all(bootstrap, topic, 20)
    assert len(msgs) == 20
    assert {m.key() for m in msgs} == {f"cam-{unique}".encode()}
    assert len({m.partition() for m in msgs}) == 1  # one camera -> one partition -> ordered
    frames = [codec("FrameCaptured").decode(m.value()) for m in msgs]
    assert [f["frame_seq"] for f in frames] == list(range(20))
    # one run, numbered without a gap: analytics counts a jump in run_index as frames that never reached it
    assert {f["run_start_seq"] for f in frames} == {0} and [f["run_index"] for f in frames] == list(range(20))
    pts = [f["source_pts_us"] for f in frames]
    assert all(95_000 <= b - a <= 140_000 for a, b in itertools.pairwise(pts))
    img = cv2.imdecode(np.frombuffer(frames[5]["image"], np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (720, 1280, 3) and (frames[5]["width"], frames[5]["height"]) == (1280, 720)
    assert frames[1]["captured_at"] >= frames[0]["captured_at"]
    # the reading's end is reported with its last frame's capture time (analytics closes the window after it)
    status = [codec("CameraStatusChanged").decode(m.value()) for m in read_all(bootstrap, statuses, 2)]
    assert [(x["status"], x["reason"]) for x in status][-1] == ("DISABLED", "ended")
    assert status[-1]["last_frame_at"] == frames[-1]["captured_at"] and status[-1]["frames_produced"] == 20
    # a still every 5 s of capture time: the first frame's (the 2 s clip read fast makes one)
    kept = [codec("FrameCaptured").decode(m.value()) for m in read_all(bootstrap, stills, 1)]
    assert kept[0]["frame_seq"] == 0 and kept[0]["image"] == frames[0]["image"]


def test_missing_source_names_the_path_and_the_fix(tmp_path: Path) -> None:
    # under an allowed directory (ITS_SOURCE_FILE_DIRS of the tests): elsewhere the source policy refuses it first
    s = IngestSettings(source=str(tmp_path / "nonexistent" / "cam.mp4"), metrics_port=0)
    with pytest.raises(SourceError, match=r"nonexistent/cam\.mp4.*check the path or URL"):
        IngestWorker(s).run()


def test_no_source_is_refused() -> None:
    with pytest.raises(Exception, match="--source"):
        IngestWorker(IngestSettings(source="", metrics_port=0))


@pytest.mark.parametrize(
    ("url", "expected"),
    [("rtsp://admin:secret@10.0.0.5/stream1", "rtsp://***@10.0.0.5/stream1"), ("/data/a.mp4", "/data/a.mp4")],
)
def test_credentials_are_redacted(url: str, expected: str) -> None:
    assert redact(url) == expected


@pytest.mark.parametrize(
    ("src", "cam"),
    [("/data/highway_overpass_720p.mp4", "highway_overpass_720p"), ("rtsp://h/cam-7/", "cam-7")],
)
def test_default_camera_id(src: str, cam: str) -> None:
    assert camera_id_for(src) == cam


def _to_mpegts(src: Path, dst: Path) -> None:
    """Remux (no re-encode) to MPEG-TS: streamable over HTTP the way HLS segments and camera feeds are."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mpegts") as out:
        video = inp.streams.video[0]
        ostream = out.add_stream_from_template(video)
        for pkt in inp.demux(video):
            if pkt.dts is not None:
                pkt.stream = ostream
                out.mux(pkt)


@pytest.mark.integration
def test_a_network_stream_is_read_like_a_camera(
    bootstrap: str, make_topic: Callable[..., str], unique: str, tmp_path: Path
) -> None:
    """HTTP through FFmpeg (the path RTSP/HLS/MJPEG URLs take), from a loopback server streaming the sample clip."""
    import functools
    import http.server
    import threading

    _to_mpegts(CLIP, tmp_path / "cam.ts")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cam.ts"
        topic = make_topic("frames", 1)
        s = IngestSettings(
            kafka_bootstrap=bootstrap,
            source=url,
            camera_id=f"http-{unique}",
            max_frames=10,
            frames_topic=topic,
            metrics_port=0,
        )
        res = IngestWorker(s).run()
    finally:
        server.shutdown()
        server.server_close()
    # A live source is never waited for: frames the encoder had no time for are dropped (oldest first), counted.
    assert res.frames + res.dropped == 10 and res.frames >= 5 and res.source == url
    frames = [codec("FrameCaptured").decode(m.value()) for m in read_all(bootstrap, topic, res.frames)]
    assert [f["frame_seq"] for f in frames] == list(range(res.frames)) and frames[0]["source"] == url
    assert (frames[0]["width"], frames[0]["height"]) == (1280, 720)
