"""One pipeline of the chaos run: fresh topics, a PostgreSQL schema and a Redis database of its own, and every stage
as its own process (`itscam <stage>`, the feeder as ingest) with replicas, each restartable after a SIGKILL."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from eventbus.config import admin_config
from eventbus.registry import put_camera

__all__ = ["TOPIC_KEYS", "Pipeline", "Stage", "free_port"]

#: the run's topics: frames and detections (inference's in and out), camera status, the analytics outputs,
#: the camera registry and the dead-letter topic
TOPIC_KEYS = ("frames", "det", "status", "veh", "stats", "inc", "mov", "cams", "dlq")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when the harness dies, even by a crash that skips its clean-up."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Stage:
    """One process of a stage: how to (re)start it and the one running now."""

    name: str  # e.g. inference-0
    kind: str  # ingest | inference | analytics | projector | api
    args: list[str]
    env: dict[str, str]
    log: Path
    metrics_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    history: list[int] = field(default_factory=list)  # exit codes of earlier processes

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process and its children, and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.history.append(self.proc.wait(30))

    def stop(self, timeout_s: float = 20.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()


class Pipeline:
    """The topics, schema, Redis database and stage processes of one run (`name`: clean or chaos)."""

    def __init__(self, name: str, run_id: str, bootstrap: str, pg_dsn: str, redis_url: str, logs: Path) -> None:
        self.name = name
        self.bootstrap = bootstrap
        self.pg_dsn = pg_dsn
        self.redis_url = redis_url
        self.schema = f"chaos_{name}_{run_id}"
        self.topics = {k: f"chaos.{run_id}.{name}.{k}" for k in TOPIC_KEYS}
        self.groups = {k: f"chaos-{run_id}-{name}-{k}" for k in ("inference", "analytics", "projector")}
        self.logs = logs
        self.stages: list[Stage] = []
        self.partitions = 2
        self.supervised = False  # restart a stage that crashes instead of failing the run
        self.crashes: list[dict[str, object]] = []

    # -- set-up ----------------------------------------------------------------------------------------
    def create_topics(self, partitions: int) -> None:
        self.partitions = partitions
        admin = AdminClient(admin_config(self.bootstrap))
        new = [
            NewTopic(t, 1 if k in ("cams", "dlq") else partitions, 1, config={"max.message.bytes": str(8 << 20)})
            for k, t in self.topics.items()
        ]
        for f in admin.create_topics(new).values():
            f.result(30)

    def register(self, configs: dict[str, dict[str, object]]) -> None:
        for cfg in configs.values():
            put_camera(self.bootstrap, cfg, topic=self.topics["cams"])  # type: ignore[arg-type]

    def migrate(self) -> None:
        from projections import migrate

        migrate(self.pg_dsn, self.schema)

    def _base_env(self) -> dict[str, str]:
        # nothing of the caller's ITS_* settings leaks in (it could name the main stack)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ITS_")}
        for keep in ("ITS_SHARED_DIR", "ITS_INFERENCE_MODEL_PATH", "ITS_LOG_LEVEL"):
            if keep in os.environ:
                env[keep] = os.environ[keep]
        repo = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env | {"ITS_KAFKA_BOOTSTRAP": self.bootstrap, "PYTHONUNBUFFERED": "1"}

    def add_stages(self, replicas: int, session_timeout_ms: int, imgsz: int, data_dir: Path, api: bool) -> None:
        base = self._base_env()
        t = self.topics
        itscam = [sys.executable, "-m", "itscam"]
        for i in range(replicas):
            port = free_port()
            env = base | {
                "ITS_INFERENCE_FRAMES_TOPIC": t["frames"],
                "ITS_INFERENCE_DETECTIONS_TOPIC": t["det"],
                "ITS_INFERENCE_DLQ_TOPIC": t["dlq"],
                "ITS_INFERENCE_GROUP_ID": self.groups["inference"],
                # stable per replica: a restarted replica fences its predecessor's open transaction at once
                "ITS_INFERENCE_TRANSACTIONAL_ID": f"{self.groups['inference']}-{i}",
                "ITS_INFERENCE_IMGSZ": str(imgsz),
                # one frame per model call: the same numbers whatever the batch, so both runs detect alike
                "ITS_INFERENCE_MAX_BATCH": "1",
                "ITS_INFERENCE_WORKERS": "1",
                "ITS_INFERENCE_THREADS": "1",
                "ITS_INFERENCE_SESSION_TIMEOUT_MS": str(session_timeout_ms),
                "ITS_INFERENCE_METRICS_PORT": str(port),
            }
            self._add(f"inference-{i}", "inference", [*itscam, "inference"], env, port)
        for i in range(replicas):
            port = free_port()
            env = base | {
                "ITS_ANALYTICS_APP_ID": self.groups["analytics"],
                "ITS_ANALYTICS_DATA_DIR": str(data_dir / "analytics"),
                "ITS_ANALYTICS_WORKER_NAME": f"{self.name}-{i}",
                "ITS_ANALYTICS_METRICS_PORT": str(port),
                "ITS_ANALYTICS_DETECTIONS_TOPIC": t["det"],
                "ITS_ANALYTICS_CAMERA_STATUS_TOPIC": t["status"],
                "ITS_ANALYTICS_CAMERAS_TOPIC": t["cams"],
                "ITS_ANALYTICS_VEHICLE_EVENTS_TOPIC": t["veh"],
                "ITS_ANALYTICS_TRAFFIC_STATS_TOPIC": t["stats"],
                "ITS_ANALYTICS_INCIDENTS_TOPIC": t["inc"],
                "ITS_ANALYTICS_MOVEMENTS_TOPIC": t["mov"],
                "ITS_ANALYTICS_DLQ_TOPIC": t["dlq"],
                # Faust reads its session timeout from the environment (streams/analytics has no setting for it)
                "BROKER_SESSION_TIMEOUT": str(session_timeout_ms / 1000),
                "BROKER_HEARTBEAT_INTERVAL": "1.0",
            }
            self._add(f"analytics-{i}", "analytics", [*itscam, "analytics"], env, port)
        for i in range(replicas):
            port = free_port()
            env = base | {
                "ITS_PG_DSN": self.pg_dsn,
                "ITS_REDIS_URL": self.redis_url,
                "ITS_PROJECTOR_PG_SCHEMA": self.schema,
                "ITS_PROJECTOR_GROUP_ID": self.groups["projector"],
                "ITS_PROJECTOR_CAMERAS_TOPIC": t["cams"],
                "ITS_PROJECTOR_CAMERA_STATUS_TOPIC": t["status"],
                "ITS_PROJECTOR_DETECTIONS_TOPIC": t["det"],
                "ITS_PROJECTOR_VEHICLE_EVENTS_TOPIC": t["veh"],
                "ITS_PROJECTOR_TRAFFIC_STATS_TOPIC": t["stats"],
                "ITS_PROJECTOR_INCIDENTS_TOPIC": t["inc"],
                "ITS_PROJECTOR_MOVEMENTS_TOPIC": t["mov"],
                "ITS_PROJECTOR_SNAPSHOTS_TOPIC": "",
                "ITS_PROJECTOR_DLQ_TOPIC": t["dlq"],
                "ITS_PROJECTOR_SESSION_TIMEOUT_MS": str(session_timeout_ms),
                "ITS_PROJECTOR_METRICS_PORT": str(port),
            }
            self._add(f"projector-{i}", "projector", [*itscam, "projector"], env, port)
        if api:
            port = free_port()
            env = base | {
                "ITS_PG_DSN": self.pg_dsn,
                "ITS_REDIS_URL": self.redis_url,
                "ITS_API_PORT": str(port),
                "ITS_API_WORKERS": "1",
                "ITS_API_METRICS_PORT": "0",
                "ITS_API_CAMERAS_TOPIC": t["cams"],
            }
            self._add("api-0", "api", [*itscam, "api"], env, port)

    def add_feeder(self, plan_file: Path, spec_file: Path) -> Stage:
        env = self._base_env()
        args = [sys.executable, "-m", "bench.chaos.feeder", str(plan_file), str(spec_file)]
        return self._add("ingest-0", "ingest", args, env, 0)

    def _add(self, name: str, kind: str, args: list[str], env: dict[str, str], port: int) -> Stage:
        self.logs.mkdir(parents=True, exist_ok=True)
        st = Stage(name, kind, args, env, self.logs / f"{self.name}-{name}.log", port)
        self.stages.append(st)
        return st

    def of(self, kind: str) -> list[Stage]:
        return [s for s in self.stages if s.kind == kind]

    def check_alive(self) -> None:
        """A long-running stage that exited on its own (a crash the run did not cause): raise naming its log, or,
        when `supervised`, restart it as Kubernetes would and record the crash (a finding the report lists)."""
        for s in self.stages:
            if s.kind != "ingest" and s.proc is not None and s.proc.poll() is not None:
                if not self.supervised:
                    raise RuntimeError(f"{s.name} of the {self.name} run exited with {s.proc.returncode}; see {s.log}")
                self.crashes.append({"stage": s.name, "exit": s.proc.returncode, "at_s": round(time.monotonic(), 1)})
                print(f"  {s.name} exited by itself with {s.proc.returncode}: restarted (see {s.log})", flush=True)
                s.history.append(s.proc.returncode)
                s.start()

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM every stage at once, then wait for all (SIGKILL what is left after `timeout_s`)."""
        self.supervised = False
        for s in self.stages:
            s.signal(signal.SIGCONT)
            s.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for s in self.stages:
            if s.proc is None:
                continue
            try:
                s.proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                s.kill()

    def drop(self) -> None:
        """Delete the run's topics (with analytics' internal ones) and its schema: the chaos stack is kept between
        runs, its data should not grow with each."""
        import psycopg

        admin = AdminClient(admin_config(self.bootstrap))
        app = self.groups["analytics"]
        names = [*self.topics.values(), f"{app}-camera-state-changelog", f"{app}-__assignor-__leader"]
        for f in admin.delete_topics(names, operation_timeout=10).values():
            with contextlib.suppress(Exception):  # an internal topic Faust never made
                f.result(15)
        with psycopg.connect(self.pg_dsn, autocommit=True, connect_timeout=5) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def wait(self, what: str, pred: object, timeout_s: float) -> float:
        """Poll `pred` until true (raising after `timeout_s`); returns seconds waited."""
        t0 = time.monotonic()
        while not pred():  # type: ignore[operator]
            self.check_alive()
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(
                    f"{what} did not happen within {timeout_s:.0f} s ({self.name} run); logs: {self.logs}"
                )
            time.sleep(0.25)
        return time.monotonic() - t0
