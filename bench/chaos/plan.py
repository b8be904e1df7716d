"""What a chaos run does: its frame set, its length, how many faults of each kind and the seed that places them.
Written to a JSON file so the feeder process reads the same plan as the harness."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench.chaos.frames import FrameSet, load_frames
from bench.counting import load_clips

__all__ = ["FAULT_KINDS", "ChaosPlan", "load_plan", "only", "short_plan", "soak_plan"]

#: every kind of fault, in the order the table prints them (the JSON's keys)
FAULT_KINDS = (
    "kill_ingest",
    "kill_inference",
    "kill_analytics",
    "kill_projector",
    "kill_api",
    "broker_restart",
    "postgres_restart",
    "redis_flush",
    "pause_consumer",
    "poison",
)


@dataclass(frozen=True)
class ChaosPlan:
    data_dir: str  # clips and ground_truth.json
    home: str  # frame cache
    fps: float  # sampled frames per second of clip time
    frames: int  # per camera
    per_clip: int  # cameras per clip
    feed_s: float  # wall seconds the frames are spread over in the faulted run
    faults_per_kind: int
    seed: int
    session_timeout_ms: int = 7000  # every consumer's; a paused one stays stopped longer than this
    width: int = 640
    imgsz: int = 320
    kinds: tuple[str, ...] = FAULT_KINDS  # the kinds injected (`--only` narrows a reproduction to some)

    def frame_set(self) -> FrameSet:
        clips = load_clips(Path(self.data_dir))
        return load_frames(
            clips, Path(self.home), fps=self.fps, frames=self.frames, per_clip=self.per_clip, width=self.width
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))


def load_plan(path: Path) -> ChaosPlan:
    data = json.loads(path.read_text())
    return ChaosPlan(**data | {"kinds": tuple(data["kinds"])})


def only(plan: ChaosPlan, kinds: list[str]) -> ChaosPlan:
    """`plan` with only `kinds` injected; an unknown kind is refused, naming the known ones."""
    unknown = sorted(set(kinds) - set(FAULT_KINDS))
    if unknown:
        raise ValueError(f"unknown fault kind(s) {unknown}: --only takes a comma-separated list of {FAULT_KINDS}")
    return replace(plan, kinds=tuple(k for k in FAULT_KINDS if k in kinds))


def short_plan(data_dir: Path, home: Path, seed: int) -> ChaosPlan:
    """`make test`'s run: one fault of every kind over 30 s of feed, 4 cameras of 40 frames."""
    return ChaosPlan(
        str(data_dir), str(home), fps=4.0, frames=40, per_clip=2, feed_s=30.0, faults_per_kind=1, seed=seed
    )


def soak_plan(data_dir: Path, home: Path, seed: int, minutes: float) -> ChaosPlan:
    """A soak of `minutes`: a fault about every 30 s (at least 5 of each kind in 30 minutes), 6 cameras whose
    frames last the whole run (the clips loop)."""
    feed_s = minutes * 60.0
    per_kind = max(1, round(feed_s / 30.0 / len(FAULT_KINDS)))
    frames = max(40, int(feed_s * 1.0))  # one frame per camera per second of run: inference keeps up on 2 cores
    return ChaosPlan(str(data_dir), str(home), fps=5.0, frames=frames, per_clip=3, feed_s=feed_s,
                     faults_per_kind=per_kind, seed=seed)  # fmt: skip
