"""The faults of a chaos run: when each happens (seeded), and how each is done to the run's own stack and stages."""

from __future__ import annotations

import random
import signal
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Producer

from bench.chaos.pipeline import Pipeline, Stage
from bench.chaos.plan import FAULT_KINDS, ChaosPlan
from bench.chaos.progress import QUIET
from bench.chaos.stack import ChaosStack
from eventbus.config import producer_config

__all__ = ["POISON_TOPICS", "Fault", "Injector", "schedule"]

#: every topic a stage reads, poisoned; the stages that read it as a consumer group (each must dead-letter a poison
#: record once). Analytics also reads the cameras topic, but whole, in every replica, at every start (a table, not a
#: group): it logs and counts a bad camera record (its_analytics_frames_skipped_total{reason="bad-camera-record"})
#: and leaves the dead letter to the projector, or every restart would write it again.
POISON_TOPICS: dict[str, tuple[str, ...]] = {
    "frames": ("inference",),
    "det": ("analytics", "projector"),
    "status": ("analytics", "projector"),
    "veh": ("projector",),
    "stats": ("projector",),
    "inc": ("projector",),
    "mov": ("projector",),
    "cams": ("projector",),
}


@dataclass
class Fault:
    at_s: float  # seconds into the feed
    kind: str
    target: str = ""  # the stage process it hit, where it hits one
    injected_at: float = 0.0  # monotonic
    recovered_s: float | None = None
    detail: str = ""


def schedule(plan: ChaosPlan, rng: random.Random) -> list[Fault]:
    """`faults_per_kind` faults of every kind at random times in the feed's first 80 % (the rest lets the last
    ones recover while frames still flow); kill_ingest within the first 60 %, while the feeder still runs."""
    out = []
    for kind in plan.kinds:
        end = 0.6 if kind == "kill_ingest" else 0.8
        for _ in range(plan.faults_per_kind):
            out.append(Fault(round(rng.uniform(0.05, end) * plan.feed_s, 2), kind))
    return sorted(out, key=lambda f: f.at_s)


@dataclass
class Injector:
    stack: ChaosStack
    pipe: Pipeline
    plan: ChaosPlan
    rng: random.Random
    redis_db: int
    poison: list[tuple[str, int, int]] = field(default_factory=list)  # (topic key, partition, offset) delivered
    paused: list[tuple[float, Stage]] = field(default_factory=list)  # (resume at, stage)

    def inject(self, f: Fault) -> None:
        """Do fault `f`, returning once what it broke has been started again (a paused consumer resumes later:
        `resume_due`)."""
        f.injected_at = time.monotonic()
        if f.kind.startswith("kill_"):
            st = self.rng.choice([s for s in self.pipe.of(f.kind.removeprefix("kill_")) if s.alive()] or [None])
            if st is None:
                f.detail = "no live process (the feeder had finished)"
                return
            f.target = st.name
            st.kill()
            st.restarts += 1
            st.start()
        elif f.kind == "broker_restart":
            self.stack.kill_broker()
            time.sleep(1.0)
            self.stack.start_broker()
        elif f.kind == "postgres_restart":
            self.stack.restart_postgres()
        elif f.kind == "redis_flush":
            self.stack.flush_redis(self.redis_db)
        elif f.kind == "pause_consumer":
            live = [s for s in self.pipe.stages if s.kind in ("inference", "analytics", "projector") and s.alive()]
            st = self.rng.choice(live)
            f.target = st.name
            st.signal(signal.SIGSTOP)
            self.paused.append((time.monotonic() + self.plan.session_timeout_ms / 1000 + 3.0, st))
        elif f.kind == "poison":
            self._poison(f)
        else:
            raise ValueError(f"unknown fault kind {f.kind!r}: one of {FAULT_KINDS}")

    def resume_due(self) -> None:
        now = time.monotonic()
        for at, st in list(self.paused):
            if now >= at:
                st.signal(signal.SIGCONT)
                self.paused.remove((at, st))

    def resume_all(self) -> None:
        for _at, st in self.paused:
            st.signal(signal.SIGCONT)
        self.paused.clear()

    def _poison(self, f: Fault) -> None:
        """A record no stage can decode on every input topic, each on a random partition; their coordinates are
        kept to find them in the dead-letter topic."""
        prod = Producer(producer_config(self.pipe.bootstrap, **QUIET))
        delivered: list[tuple[str, int, int]] = []
        by_topic = {t: k for k, t in self.pipe.topics.items()}

        def done(err: object, msg: object) -> None:
            if err is None:
                delivered.append((by_topic[msg.topic()], msg.partition(), msg.offset()))  # type: ignore[attr-defined]

        for key in POISON_TOPICS:
            topic = self.pipe.topics[key]
            parts = 1 if key == "cams" else len(prod.list_topics(topic, timeout=10).topics[topic].partitions)
            value = b"\x00not avro: chaos poison " + uuid.uuid4().hex.encode()
            k = f"chaos-poison-{uuid.uuid4().hex[:8]}".encode()
            prod.produce(topic, key=k, value=value, partition=self.rng.randrange(parts), on_delivery=done)
        left = prod.flush(30)
        if left:
            raise RuntimeError(f"{left} poison record(s) were not acknowledged by the chaos broker")
        self.poison += delivered
        f.detail = f"{len(delivered)} records"
