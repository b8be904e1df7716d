"""What the stage commands share: command-line overrides of settings, and stopping cleanly on a signal."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["on_stop_signal", "overrides"]


def overrides(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The flags among `names` that were given: keyword arguments that override a settings class's environment."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def on_stop_signal(stop: Callable[[], None]) -> None:
    """Call `stop` on SIGTERM (Kubernetes) and SIGINT (Ctrl-C): the stage finishes its batch and exits."""

    def handler(signum: int, frame: object) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
