"""The demo's stage processes, where its wall time goes, and its waits: for a condition, and for analytics and the
projector to be through everything written before the wait (their consumer groups against the high watermarks)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["Phases", "Stages", "wait_for", "wait_for_analytics"]


class Stages:
    """The long-running stage processes of the demo, logs under .stack/logs/demo-<stage>.log."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        """Start `itscam NAME ARGS...` in the background."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"demo-{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "itscam", name, *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(
                    f"The {name} stage exited with code {p.returncode}; see {self.logs / f'demo-{name}.log'}."
                )

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


class Phases:
    """Where the demo's wall time goes: seconds per phase, each from the end of the one before."""

    def __init__(self) -> None:
        self.t0 = self.last = time.monotonic()
        self.seconds: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self.last, 1)
        self.last = now

    def total(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def line(self) -> str:
        parts = ", ".join(f"{k} {v:g}s" for k, v in self.seconds.items())
        return f"demo wall time: {self.total():g}s ({parts})"


def wait_for(what: str, check: Any, timeout: float, stages: Stages) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stages.check_alive()
        val = check()
        if val:
            return val
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen within {timeout:.0f}s; see {stages.logs}/demo-*.log.")


def wait_for_analytics(stages: Stages, phases: Phases) -> None:
    """Analytics through every detection and status written so far (so through all of this camera's: they are all
    projected, hence committed), then the projector through every event analytics wrote for them: exact, from the
    two stages' consumer groups (their committed offsets) against the topics' high watermarks."""
    from eventbus.settings import DeployableSettings
    from itscam.demo_wait import GroupProgress
    from projections import ProjectorSettings
    from streams.analytics import AnalyticsSettings

    an, proj = AnalyticsSettings(), ProjectorSettings()
    inputs = [an.detections_topic, an.camera_status_topic]
    # Analytics' outputs (vehicle events, statistics, incidents, any added later) that the projector reads.
    outputs = sorted(
        name
        for field, name in an.model_dump().items()
        if field.endswith("_topic") and name and name not in (*inputs, an.cameras_topic, an.dlq_topic)
        if name in proj.topics()
    )
    progress = GroupProgress(DeployableSettings().kafka_bootstrap)
    try:
        # Faust commits a transaction (events, state, offsets) about every commit_interval_s.
        progress.wait("analytics through every detection", an.app_id, inputs, 300, stages.check_alive, stages.logs)
        phases.mark("analytics done")
        # Analytics' events commit with its offsets: those of this camera are all before these high watermarks.
        progress.wait("analytics events projected", proj.group_id, outputs, 120, stages.check_alive, stages.logs)
        phases.mark("analytics events projected")
    finally:
        progress.close()
