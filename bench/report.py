"""Where each benchmark's figures go: the JSON file named by --json (the recorded ones live in bench/results/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_results"]


def write_results(path: str | None, figures: dict[str, Any]) -> None:
    """Write the figures as indented JSON when a path was given (folders created), and say where."""
    if not path:
        return
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"written: {path}")
