"""`itscam chaos`: the whole pipeline under faults, checked row for row against a clean run on the same frames.

1. start the run's own stack (stack.py) and sample the fixed frames (frames.py, cached);
2. the clean run: one process per stage, the frames fed at once, drained; its stages stopped;
3. the faulted run: two replicas of inference, analytics and the projector, the API, the frames fed over
   `feed_s`, faults injected at seeded random times (faults.py), each one's recovery timed;
4. drained, then checked (checks.py); the stack stopped whatever happened.

A fault's recovery time runs from its injection until what it broke is back (a killed process restarted and ready,
the API answering, Redis's counters equal to PostgreSQL's) and every stage has consumed everything that was in its
input topics when the fault struck.
"""

from __future__ import annotations

import random
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.chaos.checks import check_dlq, check_lag, check_redis, compare_runs
from bench.chaos.faults import Fault, Injector, schedule
from bench.chaos.feeder import FeedSpec
from bench.chaos.frames import FrameSet
from bench.chaos.pipeline import Pipeline, Stage
from bench.chaos.plan import ChaosPlan
from bench.chaos.progress import Offsets, Probe
from bench.chaos.report import summarise
from bench.chaos.stack import ChaosSettings, ChaosStack
from itscam.demo import metric_value

__all__ = ["run_chaos"]

_CLEAN_DB, _CHAOS_DB = 1, 2  # Redis databases of the two runs
_RECOVERY_LIMIT_S = 120.0  # a fault not recovered from within this is reported as not recovered
_READY = {"inference": "its_inference_ready", "analytics": "its_analytics_ready", "projector": "its_projector_ready"}


class _Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def log(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", flush=True)


def _ready(st: Stage) -> bool:
    if not st.alive():
        return False
    if st.kind == "api":
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{st.metrics_port}/health", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False
    name = _READY.get(st.kind)
    return name is None or metric_value(st.metrics_port, name) == 1


def _frames_done(p: Pipeline, fs: FrameSet) -> bool:
    import psycopg

    try:
        with psycopg.connect(p.pg_dsn, connect_timeout=3) as c:
            n = c.execute(f'SELECT count(*) FROM "{p.schema}".frames').fetchone()
            closed = c.execute(
                f"SELECT count(*) FROM \"{p.schema}\".traffic_stats WHERE closed_by = 'CAMERA_STOPPED'"
            ).fetchone()
    except psycopg.Error:
        return False
    return bool(n and closed and n[0] >= len(fs.cameras) * fs.frames and closed[0] >= len(fs.cameras))


def _drain(
    p: Pipeline, fs: FrameSet, probe: Probe, clock: _Clock, timeout_s: float, groups: list[str] | None = None
) -> float:
    """Wait until every frame is projected, every camera's last window closed and every group (of `groups`)
    caught up."""
    last = [time.monotonic()]

    def settled() -> bool:
        if not _frames_done(p, fs):
            why: list[str] | None = ["frames or closing windows not all projected"]
        else:
            ends = probe.ends()
            why = probe.lagging(ends, groups) if ends is not None else None
            if why == []:
                return True
        if time.monotonic() - last[0] > 15:
            last[0] = time.monotonic()
            clock.log(f"  {p.name}: waiting for {why if why is not None else 'the broker or database'}")
        return False

    return p.wait("the pipeline to drain", settled, timeout_s)


def _pipeline(name: str, run_id: str, stack: ChaosStack, db: int, logs: Path, plan: ChaosPlan, fs: FrameSet,
              replicas: int, api: bool) -> Pipeline:  # fmt: skip
    p = Pipeline(name, run_id, stack.bootstrap, stack.pg_dsn(), stack.redis_url(db), logs)
    p.create_topics(2)
    p.migrate()
    p.register(fs.configs)
    p.add_stages(replicas, plan.session_timeout_ms, plan.imgsz, logs / name, api)
    return p


class _Recovery:
    """The faults not yet recovered from, and the checks that end each."""

    def __init__(self, chaos: Pipeline, stack: ChaosStack, probe: Probe, cams: list[str], inj: Injector) -> None:
        self.chaos, self.stack, self.probe, self.cams, self.inj = chaos, stack, probe, cams, inj
        self.pending: list[tuple[Fault, Offsets]] = []

    def add(self, f: Fault, targets: Offsets) -> None:
        if not f.detail.startswith("no "):
            self.pending.append((f, targets))

    def _back(self, f: Fault) -> bool:
        if f.kind == "pause_consumer" and any(st.name == f.target for _a, st in self.inj.paused):
            return False
        if f.target:
            st = next(s for s in self.chaos.stages if s.name == f.target)
            if not _ready(st) and not (st.kind == "ingest" and st.proc is not None and st.proc.poll() == 0):
                return False
        return not (f.kind == "redis_flush" and check_redis(self.chaos, self.stack.redis_url(_CHAOS_DB), self.cams))

    def check(self, clock: _Clock) -> None:
        for f, targets in list(self.pending):
            if self._back(f) and self.probe.lagging(targets) == []:
                f.recovered_s = round(time.monotonic() - f.injected_at, 2)
                self.pending.remove((f, targets))
                clock.log(f"  recovered from {f.kind} {f.target} in {f.recovered_s} s")
            elif time.monotonic() - f.injected_at > _RECOVERY_LIMIT_S:
                self.pending.remove((f, targets))
                clock.log(f"  NOT recovered from {f.kind} {f.target} within {_RECOVERY_LIMIT_S:.0f} s")


def _faulted(plan: ChaosPlan, chaos: Pipeline, stack: ChaosStack, fs: FrameSet, feeder: Stage,
             rng: random.Random, clock: _Clock) -> tuple[list[Fault], Injector]:  # fmt: skip
    start = time.monotonic()
    inj = Injector(stack, chaos, plan, rng, _CHAOS_DB)
    probe = Probe(chaos)
    rec = _Recovery(chaos, stack, probe, [c.camera_id for c in fs.cameras], inj)
    faults = schedule(plan, rng)
    todo = list(faults)
    deadline = start + plan.feed_s + _RECOVERY_LIMIT_S + 30
    try:
        while (todo or rec.pending or inj.paused) and time.monotonic() < deadline:
            inj.resume_due()
            if todo and time.monotonic() - start >= todo[0].at_s:
                f = todo.pop(0)
                targets = probe.ends()
                while targets is None and time.monotonic() < deadline:
                    time.sleep(0.5)
                    targets = probe.ends()
                inj.inject(f)
                clock.log(f"fault {f.kind} {f.target} {f.detail}".rstrip())
                rec.add(f, targets or {})
            rec.check(clock)
            chaos.check_alive()  # a stage that died on its own is restarted (as Kubernetes would) and reported
            time.sleep(0.5)
        inj.resume_all()
        if feeder.proc is not None:
            feeder.proc.wait(max(5.0, plan.feed_s + 60 - (time.monotonic() - start)))
        _drain(chaos, fs, probe, clock, 300)
    finally:
        probe.close()
    return faults, inj


def run_chaos(plan: ChaosPlan, cs: ChaosSettings | None = None) -> dict[str, Any]:
    clock = _Clock()
    cs = cs or ChaosSettings()
    run_id = uuid.uuid4().hex[:8]
    logs = Path(plan.home) / "logs" / run_id
    logs.mkdir(parents=True, exist_ok=True)
    plan_file = logs / "plan.json"
    plan.save(plan_file)
    stack = ChaosStack(cs)
    rng = random.Random(plan.seed)
    pipes: list[Pipeline] = []
    inj: Injector | None = None
    try:
        stack.up()
        clock.log(f"stack up ({stack.bootstrap}); logs {logs}")
        fs = plan.frame_set()
        clock.log(f"{len(fs.cameras)} cameras x {fs.frames} frames (cache {fs.digest})")
        clean = _pipeline("clean", run_id, stack, _CLEAN_DB, logs, plan, fs, 1, False)
        chaos = _pipeline("chaos", run_id, stack, _CHAOS_DB, logs, plan, fs, 2, True)
        pipes = [clean, chaos]
        for s in clean.stages + chaos.stages:
            s.start()
        for p in pipes:
            for s in p.stages:
                p.wait(f"{s.name} ready", lambda s=s: _ready(s), 180)
        clock.log("every stage ready")

        # 2. the clean run, fed at once
        spec = logs / "clean-feed.json"
        fspec = FeedSpec(stack.bootstrap, clean.topics["frames"], clean.topics["status"], time.time(), 0.0, 0)
        spec.write_text(fspec.to_json())
        clean.add_feeder(plan_file, spec).start()
        probe = Probe(clean)
        try:
            # the projector's offsets suffice: every window closed means analytics applied every frame, and
            # analytics (Faust) commits its own offsets up to half a minute after the stream goes quiet
            _drain(clean, fs, probe, clock, 300, groups=[clean.groups["projector"]])
        finally:
            probe.close()
        clean.stop()
        clock.log("clean run drained")

        # 3. the faulted run, fed over feed_s
        spec = logs / "chaos-feed.json"
        interval = plan.feed_s / max(fs.frames - 1, 1)
        fspec = FeedSpec(stack.bootstrap, chaos.topics["frames"], chaos.topics["status"], time.time(), interval, 3)
        spec.write_text(fspec.to_json())
        feeder = chaos.add_feeder(plan_file, spec)
        feeder.start()
        chaos.supervised = True
        faults, inj = _faulted(plan, chaos, stack, fs, feeder, rng, clock)
        clock.log("faulted run drained")

        # 4. checks
        cams = [c.camera_id for c in fs.cameras]
        redis_diff = check_redis(chaos, stack.redis_url(_CHAOS_DB), cams)
        diff = compare_runs(clean, chaos)
        dlq = check_dlq(chaos, inj.poison)
        lag = check_lag(chaos)
        chaos.stop()
        clock.log("checked")
        for c in chaos.crashes:
            c["at_s"] = round(float(c["at_s"]) - clock.t0, 1)  # type: ignore[arg-type]
        res = summarise(plan, faults, diff, redis_diff, dlq, lag, chaos.crashes, time.monotonic() - clock.t0, str(logs))
        return res
    finally:
        if inj is not None:
            inj.resume_all()
        for p in pipes:
            p.stop()
        for p in pipes:
            try:
                p.drop()
            except Exception as e:  # the stack is stopped whatever happens
                clock.log(f"dropping the {p.name} run's topics and schema failed: {e}")
        stack.down()
