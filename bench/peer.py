"""The peer baseline of `itscam bench counting`: Ultralytics' own line counter on the same frames.

`count_with_ultralytics` runs `ultralytics.solutions.ObjectCounter` (Ultralytics 8.4.190: its detector, ByteTrack and
its line-crossing rule) over the sampled frames our pipeline sees, and reports what it counted in our terms: total,
crossings by direction of the box centre's motion in image coordinates, and by (COCO) class name.

In/out to direction, as `ObjectCounter.count_objects` decides it in 8.4.190 for a two-point region (a line): a track
counts once, when the segment from its previous box centre to its current one intersects the line. The line is
"vertical" when its |dx| < |dy|, otherwise (ties included) "horizontal". On a horizontal line IN is a centre moving
down (y grows) and OUT one moving up; on a vertical line IN is moving right (x grows) and OUT moving left. So a
mostly-horizontal line counts only up/down crossings and a mostly-vertical one only left/right; the crossing decisions
and their direction are Ultralytics' own, we only rename them.

Ultralytics (imported lazily: it is the optional model toolchain, `make install-export`) is kept off the network:
- `YOLO_OFFLINE=1` before its first import makes `ultralytics.utils.ONLINE` False without its DNS probe (run by
  `import ultralytics` itself), which in turn keeps its anonymous usage analytics (`utils.events`, posted after
  predict/track runs when its settings say `sync`, as they do by default) and any requirement auto-install off;
  `YOLO_AUTOINSTALL=False` also stops `check_requirements` from running pip. Both are set as defaults
  (`os.environ.setdefault`) when this module is imported, so they hold for any later import of Ultralytics in the
  process (`pytest.importorskip` included). If Ultralytics was imported before, those constants are already fixed, so
  the analytics singleton is also switched off directly.
- `ObjectCounter` calls `check_requirements("shapely>=2.0.0")` on construction and ByteTrack `check_requirements(
  "lap>=0.5.12")`: both are checked here first, so a missing one is an ImportError naming it rather than a pip run.
- The model is a local file path, so `attempt_download_asset` finds it and downloads nothing; "bytetrack.yaml" is
  packaged with Ultralytics.
- The annotator it draws with every frame uses cv2 for ASCII labels (no PIL, so `check_font` never fetches
  Arial.ttf), and `show=False` keeps it from displaying anything (construction still probes `cv2.imshow`, which fails
  quietly without a display or with opencv-python-headless).
- It writes nothing of its own: no `save`, and the predictor only names (never creates) a `runs/` folder. Importing
  Ultralytics reads or creates its user settings file (`~/.config/Ultralytics/settings.json` or `$YOLO_CONFIG_DIR`),
  never anything in this repo or in shared/.
Left as Ultralytics has it: importing it sets OMP_NUM_THREADS=1 when unset, so torch, when first imported by it (the
`.pt` path), runs on one intra-op thread; ONNX Runtime sessions keep their own default (all cores).
It logs a line per frame ("No tracks found." warnings even with `verbose=False`), its configuration on construction
and a cv2.imshow warning: its "ultralytics" logger is raised to ERROR while counting, then restored.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DIRECTIONS", "PeerCount", "count_with_ultralytics"]

DIRECTIONS = ("up", "down", "left", "right")

Point = tuple[float, float]


@dataclass(frozen=True)
class PeerCount:
    """What the peer counted on one clip.

    `by_direction` always has the four keys of `DIRECTIONS`: the direction the box centre moved in image coordinates
    (up = decreasing y, down = increasing y, left = decreasing x, right = increasing x). `by_class` has the model's
    class names that were counted at least once. `seconds` is the wall time (`time.perf_counter`) of the counter's
    per-frame calls: detection, tracking and counting, including the lazy predictor set-up on the first frame; not
    loading the weights when the counter is built, nor producing the frames.
    """

    total: int
    by_direction: dict[str, int]
    by_class: dict[str, int]
    seconds: float


def _is_vertical(line: tuple[Point, Point]) -> bool:
    """Ultralytics 8.4.190's test (`ObjectCounter.count_objects`): vertical when |dx| < |dy|, a tie is horizontal."""
    (x0, y0), (x1, y1) = line
    return abs(x0 - x1) < abs(y0 - y1)


def _offline_defaults() -> None:
    """Ultralytics reads these on its first import (see the module docstring); a value already set is kept."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")


_offline_defaults()


def _import_ultralytics_offline() -> Any:
    """Import `ObjectCounter` with Ultralytics kept off the network (see the module docstring)."""
    _offline_defaults()
    for module, requirement in (("shapely", "shapely>=2.0.0"), ("lap", "lap>=0.5.12")):
        if importlib.util.find_spec(module) is None:
            raise ImportError(
                f"The Ultralytics peer needs {requirement} (ObjectCounter and ByteTrack import it; Ultralytics would "
                f"otherwise try to pip-install it): pip install '{requirement}'"
            )
    from ultralytics.solutions import ObjectCounter
    from ultralytics.utils import events

    events.events.enabled = False  # no usage analytics, even if Ultralytics was imported before YOLO_OFFLINE was set
    return ObjectCounter


@contextmanager
def _quiet_ultralytics() -> Iterator[None]:
    """Raise Ultralytics' logger to ERROR for the duration (its per-frame lines and set-up chatter)."""
    logger = logging.getLogger("ultralytics")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def count_with_ultralytics(
    model_path: str | Path,
    frames: Iterable[np.ndarray],
    line: tuple[tuple[float, float], tuple[float, float]],
    imgsz: int = 640,
    classes: Sequence[int] | None = (1, 2, 3, 5, 7),
    conf: float | None = None,
) -> PeerCount:
    """Count line crossings on `frames` with Ultralytics' `solutions.ObjectCounter` and ByteTrack, on the CPU.

    Args:
        model_path: a YOLO detection model Ultralytics loads, `.pt` or `.onnx` (a local file: nothing is downloaded).
        frames: BGR uint8 images in time order (the sampled frames our pipeline sees). They are not modified.
        line: the counting segment's two endpoints, in pixels of `frames`.
        imgsz: inference size.
        classes: COCO class ids to detect and track (default: bicycle, car, motorcycle, bus, truck); None for all.
        conf: detection confidence threshold; None keeps ObjectCounter's own default (0.25 in 8.4.190).

    Returns:
        The counts, mapped from ObjectCounter's IN/OUT to directions for the line's orientation, and the time taken.
    """
    object_counter = _import_ultralytics_offline()
    p0 = (float(line[0][0]), float(line[0][1]))
    p1 = (float(line[1][0]), float(line[1][1]))
    kwargs: dict[str, Any] = {
        "model": str(model_path),
        "region": [p0, p1],  # two points: ObjectCounter's line mode
        "show": False,
        "classes": None if classes is None else [int(c) for c in classes],
        "tracker": "bytetrack.yaml",  # 8.4.190's solutions default is tracktrack.yaml
        "imgsz": imgsz,
        "device": "cpu",
        "verbose": False,  # no per-frame summary line from BaseSolution.__call__
    }
    if conf is not None:  # ObjectCounter passes it on to model.track(); leaving it out keeps its 0.25
        kwargs["conf"] = conf

    seconds = 0.0
    with _quiet_ultralytics():
        counter = object_counter(**kwargs)
        for frame in frames:
            # ObjectCounter draws its annotations into the array it is given: hand it a copy, so the caller's frames
            # stay clean for whoever uses them next (the copy is not timed).
            im = np.ascontiguousarray(frame).copy()
            t = time.perf_counter()
            counter(im)  # BaseSolution.__call__ -> ObjectCounter.process(im0) -> SolutionResults
            seconds += time.perf_counter() - t

    inward, outward = int(counter.in_count), int(counter.out_count)
    by_direction = dict.fromkeys(DIRECTIONS, 0)
    if _is_vertical((p0, p1)):
        by_direction["right"], by_direction["left"] = inward, outward
    else:
        by_direction["down"], by_direction["up"] = inward, outward
    by_class = {
        str(name): int(c["IN"]) + int(c["OUT"])
        for name, c in counter.classwise_count.items()
        if int(c["IN"]) + int(c["OUT"]) > 0
    }
    return PeerCount(total=inward + outward, by_direction=by_direction, by_class=by_class, seconds=seconds)
