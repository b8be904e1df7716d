"""`itscam chaos`, from a checkout only, like `itscam bench`: the chaos run lives in bench/chaos, which is not
part of the installed package."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "bench" / "chaos" / "cli.py").is_file() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    try:
        from bench.chaos.cli import add_parser as add_chaos_parser
    except ModuleNotFoundError:

        def missing(args: argparse.Namespace) -> int:
            print(
                "itscam chaos: error: the chaos run is not in the installed package; run it from a checkout of the "
                "repository (`make chaos`).",
                file=sys.stderr,
            )
            return 2

        sub.add_parser("chaos", help="The pipeline under faults (from a checkout).").set_defaults(fn=missing)
        return
    add_chaos_parser(sub)
