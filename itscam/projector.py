"""`itscam projector`: every event topic into the PostgreSQL read models and Redis (projections/)."""

from __future__ import annotations

import argparse
from typing import Any

from itscam._args import on_stop_signal, overrides

__all__ = ["add_parser"]


def _cmd(args: argparse.Namespace) -> int:
    from projections import Projector, ProjectorSettings, migrate

    s = ProjectorSettings(**overrides(args, ["metrics_port"]))
    migrate(s.pg_dsn.get_secret_value(), s.pg_schema)
    proj = Projector(s)
    on_stop_signal(proj.stop)
    proj.run()
    return 0


def add_parser(sub: Any) -> None:
    pj = sub.add_parser(
        "projector",
        help="Project every event topic into the PostgreSQL read models and Redis.",
        description="Read its.cameras.v1, its.camera-status.v1, its.detections.v1, its.vehicle-events.v1, "
        "its.traffic-stats.v1, its.incidents.v1 and its.movements.v1; write their read models (cameras, status, "
        "frames and detections, per-minute class counts, vehicle events, statistics, incidents, turning "
        "movements) to PostgreSQL in one transaction per batch with the offsets, and the live state per camera "
        "to Redis, with the newest still of each camera from its.snapshots.v1. Settings: ITS_PROJECTOR_*, "
        "ITS_PG_DSN, ITS_REDIS_URL.",
    )
    pj.add_argument("--metrics-port", type=int, help="Prometheus port (9103; 0 = off).")
    pj.set_defaults(fn=_cmd)
