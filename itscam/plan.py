"""`itscam plan`: partitions, replicas, GPUs and CPU cores for N cameras at F fps (deploy/kube/plan.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from deploy.kube import capacity
from deploy.kube.plan import format_table, plan

__all__ = ["add_parser"]


def _cmd(args: argparse.Namespace) -> int:
    pl = plan(args.cameras, args.fps, args.gpu, api_rps=args.api_rps)  # a PlanError is printed by itscam
    print(json.dumps(pl.to_json(), indent=2) if args.json else format_table(pl))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="Capacity plan: partitions, replicas, GPUs and cores for N cameras at F fps.",
        description="From the throughputs measured in bench/results and tests/gpu/results (estimates are "
        "marked) and the prod overlay's resource requests: partitions per topic group, replicas per deployable, "
        "GPUs and CPU cores. See deploy/k8s/SCALING.md.",
    )
    p.add_argument("--cameras", type=int, required=True, help="Number of cameras.")
    p.add_argument("--fps", type=float, required=True, help="Sampled frames per second per camera.")
    p.add_argument("--gpu", required=True, choices=capacity.GPUS, help="Inference GPU: t4, a100 or h100.")
    p.add_argument("--api-rps", type=float, default=0.0, help="Expected API requests/s (0: the HPA minimum).")
    p.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    p.set_defaults(fn=_cmd)
