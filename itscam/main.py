"""`itscam`: parse the command line, set up logging, run the command group's function, and print any of our errors
(every package's root error is an ItsCameraError carrying its fix) without a traceback."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from itscam import (
    analytics,
    api,
    bench,
    cameras,
    chaos,
    db,
    demo,
    export,
    inference,
    ingest,
    k8s,
    keys,
    model,
    plan,
    projector,
    rebuild,
    sealkeys,
    stack,
    topics,
)
from schemas.errors import ItsCameraError
from schemas.redaction import redact

__all__ = ["build_parser", "main"]

# In the order `itscam --help` lists them: the local stack and the read side's database, the stages and the camera
# registry, the demo, then the tools around them.
COMMANDS = (
    stack,
    topics,
    db,
    rebuild,
    ingest,
    cameras,
    inference,
    analytics,
    projector,
    api,
    demo,
    model,
    keys,
    sealkeys,
    export,
    bench,
    chaos,
    k8s,
    plan,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="itscam",
        description="ITS Camera AI: traffic cameras -> Kafka -> YOLO11 -> PostgreSQL/Redis -> query API.",
    )
    p.add_argument("--log-level", default=None, help="Log level (ITS_LOG_LEVEL, INFO).")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from eventbus.settings import DeployableSettings
    from itscam.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(f"itscam-{args.command}", args.log_level or DeployableSettings().log_level)
    try:
        rc: int = args.fn(args)
    except ItsCameraError as e:  # every package's root error carries the fix: print it without a traceback
        print(f"itscam {args.command}: error: {redact(str(e))}", file=sys.stderr)
        return 2
    except Exception:  # a bug: its traceback, redacted (a driver's message may repeat a DSN or a camera URL)
        print(redact(traceback.format_exc()), file=sys.stderr)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
