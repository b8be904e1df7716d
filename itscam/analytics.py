"""`itscam analytics`: tracking, counting, speeds, incidents and statistics on its.detections.v1 (streams/analytics)."""

from __future__ import annotations

import argparse
from typing import Any

from itscam._args import overrides

__all__ = ["add_parser"]


def _cmd(args: argparse.Namespace) -> int:
    from streams.analytics import AnalyticsSettings
    from streams.analytics.worker import run

    s = AnalyticsSettings(**overrides(args, ["app_id", "data_dir", "worker_name", "metrics_port", "store"]))
    return run(s)


def add_parser(sub: Any) -> None:
    an = sub.add_parser(
        "analytics",
        help="Track, count, time and aggregate its.detections.v1 (Faust, exactly-once).",
        description="ByteTrack per camera, directional line counts (its.vehicle-events.v1), speeds from a "
        "homography, incidents (its.incidents.v1: stopped vehicle, wrong way, congestion, camera offline) and "
        "1-minute statistics (its.traffic-stats.v1), turning movements between approach zones (its.movements.v1). "
        "State per camera in a Faust table with a changelog topic; "
        "events, state and offsets commit in one transaction. Settings: ITS_ANALYTICS_*.",
    )
    an.add_argument("--app-id", help="Faust app id / consumer group (its-analytics).")
    an.add_argument("--data-dir", help="Folder of the RocksDB tables (.stack/analytics).")
    an.add_argument("--worker-name", help="This worker's folder under --data-dir (<host>-<pid>).")
    an.add_argument("--store", choices=["auto", "rocksdb", "memory"], help="Table store (auto).")
    an.add_argument("--metrics-port", type=int, help="Prometheus port (9105; 0 = off).")
    an.set_defaults(fn=_cmd)
