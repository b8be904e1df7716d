"""`itscam ingest`: an ingest worker (cameras from the registry), or one source streamed with --source."""

from __future__ import annotations

import argparse
import json
from typing import Any

from itscam._args import on_stop_signal, overrides

__all__ = ["add_parser"]


def _cmd(args: argparse.Namespace) -> int:
    from streams.ingest import IngestFleet, IngestSettings, IngestWorker

    s = IngestSettings(
        **overrides(args, ["source", "camera_id", "fps", "realtime", "max_frames", "metrics_port", "group_id"])
    )
    if not s.source:  # fleet mode: the cameras this worker gets from the registry
        fleet = IngestFleet(s)
        on_stop_signal(fleet.stop)
        fleet.run()
        return 0
    worker = IngestWorker(s)
    on_stop_signal(worker.stop)
    res = worker.run()
    print(
        json.dumps(
            {
                "camera_id": res.camera_id,
                "source": res.source,
                "frames": res.frames,
                "decoded": res.decoded,
                "dropped": res.dropped,
                "first_captured_at": res.first_captured_at.isoformat() if res.first_captured_at else None,
                "last_captured_at": res.last_captured_at.isoformat() if res.last_captured_at else None,
            }
        ),
        flush=True,
    )
    return 0


def add_parser(sub: Any) -> None:
    ig = sub.add_parser(
        "ingest",
        help="Run an ingest worker (cameras from the registry), or stream one source with --source.",
        description="Without --source: join the ingest workers' consumer group on its.cameras.v1 and read the "
        "cameras of the partitions Kafka assigns (start a second worker and they split). With --source: read one "
        "file or URL (rtsp://, http://, HLS, whep://) once. Either way frames are sampled to the target fps, "
        "JPEG-encoded and produced to its.frames.v1 keyed by camera id, and camera health goes to "
        "its.camera-status.v1. Settings: ITS_INGEST_*.",
    )
    ig.add_argument("--source", help="Path or URL (ITS_INGEST_SOURCE).")
    ig.add_argument("--camera-id", help="Camera id (default: source file name).")
    ig.add_argument("--fps", type=float, help="Target sampled fps (10).")
    ig.add_argument("--realtime", action="store_true", default=None, help="Pace files at their own frame rate.")
    ig.add_argument("--max-frames", type=int, help="Stop after N sampled frames.")
    ig.add_argument("--metrics-port", type=int, help="Prometheus port (9101; 0 = off).")
    ig.add_argument("--group-id", help="Consumer group of the ingest workers (its-ingest).")
    ig.set_defaults(fn=_cmd)
