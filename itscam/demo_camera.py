"""The demo's camera: its counting line and hand count from the clips' ground truth, and its registry entry.

`ground_truth.json` (../shared/data, the format `itscam bench counting` reads) gives per clip file name the frame
size, a counting segment in pixels and the crossings counted by hand. A source whose file name is listed there gets
that segment as its line, oriented so the hand count's main direction of travel counts IN; any other source gets
no line unless `--lines` gives some.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from itscam.errors import CliError

__all__ = ["GT_LINE_ID", "HandCount", "ground_truth", "in_direction", "lines_arg", "register_camera"]

GT_LINE_ID = "gt-line"

# Image motion -> unit vector in image coordinates (y grows downwards), as ground_truth.json's by_direction uses.
_MOTION = {"up": (0.0, -1.0), "down": (0.0, 1.0), "left": (-1.0, 0.0), "right": (1.0, 0.0)}


@dataclass(frozen=True)
class HandCount:
    """A clip's hand count and the counting line it was made on (normalised CountingLine)."""

    clip: str
    total: int
    by_direction: dict[str, int]
    line: dict[str, Any]
    by_class: dict[str, int] = field(default_factory=dict)


def in_direction(x1: float, y1: float, x2: float, y2: float, motion: str) -> str:
    """The CountingLine.in_direction that counts a crossing moving along `motion` (up/down/left/right) as IN.

    LEFT_TO_RIGHT: a crossing from the left side of the directed segment to its right side is IN. Seen on the image
    (y down), the left side of a segment pointing along d = (dx, dy) lies towards (dy, -dx); a motion m leaves it
    for the right side when m . (dy, -dx) < 0, i.e. when the cross product dx*my - dy*mx is positive. A segment
    drawn left to right therefore counts downward crossings as IN, as the schema says.
    """
    mx, my = _MOTION[motion]
    return "LEFT_TO_RIGHT" if (x2 - x1) * my - (y2 - y1) * mx > 0 else "RIGHT_TO_LEFT"


def ground_truth(path: Path, source: str) -> HandCount | None:
    """The hand count of `source` (looked up by file name in the ground-truth file at `path`); None when the file
    or the clip is not there."""
    if not path.is_file():
        return None
    try:
        clips = json.loads(path.read_text())["clips"]
    except (OSError, ValueError, KeyError) as e:
        raise CliError(f"{path} is not a ground-truth file with a 'clips' object ({e}); fix or remove it.") from e
    name = Path(source).name
    clip = clips.get(name)
    if clip is None:
        return None
    try:
        w, h = float(clip["width"]), float(clip["height"])
        (px0, py0), (px1, py1) = clip["line"]["p0"], clip["line"]["p1"]
        counts = clip["counts"]
        by_direction = {str(k): int(v) for k, v in counts.get("by_direction", {}).items()}
        total = int(counts["total"])
    except (KeyError, TypeError, ValueError) as e:
        raise CliError(
            f"{path}: clip {name!r} lacks width/height, line.p0/p1 or counts.total ({e!r}); fix the entry."
        ) from e
    x1, y1, x2, y2 = px0 / w, py0 / h, px1 / w, py1 / h
    # The main direction of travel counts IN; "down" when the hand count gives none.
    main = max(sorted(by_direction), key=lambda d: by_direction[d], default="down")
    line = {
        "line_id": GT_LINE_ID,
        "name": "hand-count line",
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "in_direction": in_direction(x1, y1, x2, y2, main if main in _MOTION else "down"),
    }
    by_class = {str(k): int(v) for k, v in counts.get("by_class", {}).items()}
    return HandCount(name, total, by_direction, line, by_class)


def lines_arg(value: str) -> list[dict[str, Any]]:
    """`--lines`: inline JSON or @file holding a list of CountingLine objects."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text()
        except OSError as e:
            raise CliError(f"Cannot read {value[1:]}: {e}.") from e
    try:
        lines = json.loads(text)
    except ValueError as e:
        raise CliError(f"--lines {value[:60]!r} is not valid JSON ({e}); pass a JSON list or @file.json.") from e
    if not isinstance(lines, list):
        raise CliError(f"--lines must be a JSON list of lines, e.g. '[{EXAMPLE_LINE}]'; got {type(lines).__name__}.")
    return lines


EXAMPLE_LINE = '{"line_id": "l1", "name": "my line", "x1": 0.0, "y1": 0.6, "x2": 1.0, "y2": 0.6}'


def register_camera(
    bootstrap: str, camera_id: str, source: str, fps: float, jpeg_quality: int, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    """Write the demo camera to the registry (its.cameras.v1) with its lines, before any of its frames exist, so
    analytics knows it when its first detections arrive. Returns the CameraConfig written.

    enabled=False: the demo's one-shot ingest is the camera's only reader; an ingest fleet worker (now or later)
    leaves a disabled camera alone instead of reading the file again under this id. Analytics and the projector use
    the configuration either way. target_fps is the rate ingest samples at: the tracker times tracks in frames.
    """
    from eventbus.registry import put_camera, read_cameras
    from schemas.cameras import CameraConfigError, camera_config

    if camera_id in read_cameras(bootstrap):
        raise CliError(
            f"Camera {camera_id} is already in the camera registry. The demo streams a new camera each run: one-shot "
            "ingest numbers frames from 0 again, and analytics would reject them as late for a camera it has "
            "tracked. Leave out --camera-id (CAMERA_ID) or pick a new id."
        )
    fields: dict[str, Any] = {"name": f"demo: {Path(source).name}", "enabled": False, "lines": lines}
    fields["jpeg_quality"] = jpeg_quality
    if fps > 0:  # 0 (every frame) leaves the schema's default
        fields["target_fps"] = fps
    try:
        cfg = camera_config(camera_id, source, **fields)
    except CameraConfigError as e:
        raise CliError(f"The demo camera's configuration is invalid: {e}") from e
    put_camera(bootstrap, cfg)
    return dict(cfg)
