"""`itscam chaos`'s options and command (bench/chaos): the pipeline under faults, against a clean run."""

from __future__ import annotations

import argparse
import faulthandler
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _cmd(args: argparse.Namespace) -> int:
    from bench.chaos import short_plan, soak_plan
    from bench.chaos.plan import only
    from bench.chaos.report import failed, format_table
    from bench.chaos.run import run_chaos
    from bench.chaos.stack import ChaosSettings
    from bench.report import write_results
    from inference import InferenceSettings

    faulthandler.enable()  # a crash inside a Kafka client names the Python line it came from

    def stop(signum: int, frame: object) -> None:  # Ctrl-C / SIGTERM: unwind, so the chaos stack is stopped
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    cs = ChaosSettings()
    data = Path(args.data) if args.data else Path(InferenceSettings().model_path).parents[1] / "data"
    plan = short_plan(data, cs.home, args.seed) if args.short else soak_plan(data, cs.home, args.seed, args.minutes)
    if args.only:
        try:
            plan = only(plan, [k.strip() for k in args.only.split(",") if k.strip()])
        except ValueError as e:
            print(f"itscam chaos: error: {e}", file=sys.stderr)
            return 2
    res = run_chaos(plan, cs)
    print(format_table(res))
    write_results(args.json, res)
    why = failed(res)
    if why:
        print("FAILED: " + "; ".join(why) + f" (details in the JSON; logs: {res['logs']})")
        return 1
    return 0


def add_parser(sub: Any) -> None:
    ch = sub.add_parser(
        "chaos",
        help="Run the pipeline under faults and check nothing is lost or doubled (docs/reliability.md).",
        description="Starts a stack of its own (ITS_CHAOS_HOME, ports ITS_CHAOS_KAFKA_PORT 29092, "
        "ITS_CHAOS_PG_PORT 25432, ITS_CHAOS_REDIS_PORT 26379), runs the pipeline once cleanly and once with two "
        "replicas per stage under seeded random faults (kill -9 of every stage, broker kill and restart, "
        "PostgreSQL restart, Redis flush, a consumer paused past its session timeout, poison records), and "
        "compares the read models row for row. Exit 1 when anything is lost or doubled.",
    )
    ch.add_argument("--short", action="store_true", help="The quick form `make test` runs (one fault of each kind).")
    ch.add_argument("--minutes", type=float, default=30.0, help="Length of the faulted feed (30; not with --short).")
    ch.add_argument("--seed", type=int, default=19, help="Seed of the fault times and targets (19).")
    ch.add_argument("--only", help="Inject only these kinds (comma-separated), e.g. to reproduce one finding.")
    ch.add_argument("--data", help="Clips and ground_truth.json (../shared/data next to the model).")
    ch.add_argument("--json", help="Write the result here.")
    ch.set_defaults(fn=_cmd)
