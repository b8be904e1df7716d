"""`itscam bench`, from a checkout only: the benchmarks (bench/) are not part of the installed package.

The editable install maps only the runtime packages, so the checkout that holds this package is put on the path when
it has bench/ beside it; an installed wheel gets a `bench` that says where the benchmarks are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "bench" / "cli.py").is_file() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    try:
        from bench.cli import add_parser as add_bench_parser
    except ModuleNotFoundError:

        def missing(args: argparse.Namespace) -> int:
            print(
                "itscam bench: error: the benchmarks are not in the installed package; run them from a checkout "
                "of the repository (`make bench-ingest`, ...).",
                file=sys.stderr,
            )
            return 2

        sub.add_parser("bench", help="Benchmarks (from a checkout of the repository).").set_defaults(fn=missing)
        return
    add_bench_parser(sub)
