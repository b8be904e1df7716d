"""The capacity plan `itscam plan` prints (itscam/plan.py): partitions, replicas per deployable, GPUs and CPU cores
for N cameras at F fps.

Per-replica rates come from the results kept in the repo (deploy/kube/capacity.py says which file and field, and
whether a figure is measured or estimated); CPU and GPU per replica are the requests of the rendered prod overlay's
Deployments, so the plan and the manifests cannot drift apart. deploy/k8s/SCALING.md explains the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from deploy.errors import DeployError
from deploy.kube import capacity
from deploy.kube.capacity import Figure

__all__ = ["GPU_TARGET_UTILISATION", "Plan", "PlanError", "Row", "plan", "requests_of"]

# Share of a GPU's measured/estimated rate the plan fills (the KEDA GPU-utilisation trigger targets 70 % too):
# head-room for bursts, reconnect storms and a node being replaced.
GPU_TARGET_UTILISATION = 0.7
MAX_CAMERAS = 1_000_000
MAX_FPS = 60.0

Manifests = list[dict[str, Any]]


class PlanError(DeployError, ValueError):
    """Bad input to the plan (the message says what is allowed)."""


@dataclass(frozen=True)
class Row:
    deployable: str
    replicas: int
    rate: str
    source: str
    measured: bool
    cpu_request: float | None  # cores per replica, from the rendered prod Deployment
    gpus_per_replica: int

    @property
    def cores(self) -> float | None:
        return None if self.cpu_request is None else round(self.replicas * self.cpu_request, 2)


@dataclass(frozen=True)
class Partitions:
    group: str
    topics: tuple[str, ...]
    needed: int
    why: str
    on_cluster: int


@dataclass(frozen=True)
class Plan:
    cameras: int
    fps: float
    gpu: str
    frames_per_s: float
    rows: tuple[Row, ...]
    partitions: tuple[Partitions, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def replicas(self, deployable: str) -> int:
        return next(r.replicas for r in self.rows if r.deployable == deployable)

    @property
    def gpus(self) -> int:
        return sum(r.replicas * r.gpus_per_replica for r in self.rows)

    @property
    def cores(self) -> float | None:
        cores = [r.cores for r in self.rows]
        return None if any(c is None for c in cores) else round(sum(c for c in cores if c is not None), 2)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows"] = [{**asdict(r), "cores": r.cores} for r in self.rows]
        out["gpus"] = self.gpus
        out["cores"] = self.cores
        return out


def _cpu(q: str | int | float) -> float:
    s = str(q)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


def requests_of(manifests: Manifests, deployment: str) -> tuple[float | None, int]:
    """CPU cores requested and GPUs asked for per replica by the Deployment's containers (None: not rendered)."""
    for d in manifests:
        if d.get("kind") == "Deployment" and d["metadata"]["name"] == deployment:
            cpu, gpus = 0.0, 0
            for c in d["spec"]["template"]["spec"]["containers"]:
                res = c.get("resources", {})
                cpu += _cpu(res.get("requests", {}).get("cpu", 0))
                gpus += int(res.get("limits", {}).get("nvidia.com/gpu", 0))
            return cpu, gpus
    return None, 0


def _hpa_min(manifests: Manifests, name: str, default: int) -> int:
    for d in manifests:
        if d.get("kind") == "HorizontalPodAutoscaler" and d["metadata"]["name"] == name:
            return int(d["spec"].get("minReplicas", default))
    return default


def plan(cameras: int, fps: float, gpu: str, *, api_rps: float = 0.0, manifests: Manifests | None = None) -> Plan:
    """The plan for `cameras` cameras sampled at `fps` frames/s each, inference on `gpu` (t4, a100, h100).

    `manifests`: the rendered prod overlay (default: rendered now with kustomize); `api_rps`: expected API load.
    """
    if isinstance(cameras, bool) or not isinstance(cameras, int) or not 1 <= cameras <= MAX_CAMERAS:
        raise PlanError(f"--cameras must be a whole number from 1 to {MAX_CAMERAS:,}, got {cameras!r}")
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= MAX_FPS or math.isnan(fps):
        raise PlanError(f"--fps must be a number above 0 and at most {MAX_FPS:g}, got {fps!r}")
    if gpu not in capacity.GPUS:
        raise PlanError(f"--gpu must be one of {', '.join(capacity.GPUS)}, got {gpu!r}")
    if api_rps < 0:
        raise PlanError(f"--api-rps must be 0 or more, got {api_rps!r}")
    notes: list[str] = []
    if manifests is None:
        from deploy.kube.render import render
        from deploy.kube.tools import KubeToolError

        try:
            manifests = render("prod")
        except KubeToolError as e:
            manifests = []
            notes.append(f"CPU per replica unknown: the prod overlay could not be rendered ({e})")

    frames = cameras * fps
    rows: list[Row] = []

    def row(name: str, replicas: int, fig: Figure, extra: str = "") -> None:
        cpu, gpus = requests_of(manifests or [], f"its-{name}")
        if cpu is None:
            notes.append(f"no Deployment its-{name} in the rendered prod overlay: its cores are unknown")
        rate = f"{fig.value:g} {fig.unit}{extra}"
        rows.append(Row(name, replicas, rate, fig.source, fig.measured, cpu, gpus))

    # ingest: the seed's cameras per pod, checked against what a worker sustains at this rate.
    per_pod = capacity.CAMERAS_PER_INGEST_POD
    streams = capacity.ingest_streams(fps)
    if streams.value < per_pod:
        notes.append(
            f"ingest: a 2-core worker sustained only {streams.value:g} cameras at {fps:g} fps decoding every frame "
            f"({streams.source}); {per_pod} per pod needs key-frame decoding or more cores"
        )
    ingest_fig = Figure(
        per_pod, "cameras per pod", f"../shared/ARCHITECTURE.md default; {streams.source} = {streams.value:g}", True
    )
    row("ingest", math.ceil(cameras / per_pod), ingest_fig)

    g = capacity.gpu_fps(gpu)
    row(
        "inference",
        math.ceil(frames / (g.value * GPU_TARGET_UTILISATION)),
        g,
        f" x {GPU_TARGET_UTILISATION:.0%} target utilisation ({gpu})",
    )

    a = capacity.analytics_fps()
    row("analytics", math.ceil(frames / a.value), a)

    # One DetectionsProduced per frame; the other event topics add a few events per camera-minute.
    p = capacity.projector_events()
    row("projector", math.ceil(frames / p.value), p)

    api = capacity.api_rps()
    hpa_min = _hpa_min(manifests or [], "its-api", 2)
    row(
        "api",
        max(hpa_min, math.ceil(api_rps / api.value)),
        api,
        f"; expected {api_rps:g} req/s, at least the HPA minimum {hpa_min}",
    )

    from schemas.topics import CAMERAS, DETECTIONS, FRAMES

    by_name = {r.deployable: r.replicas for r in rows}
    mb_s = frames * capacity.FRAME_BYTES / 1e6
    for_bytes = math.ceil(mb_s / capacity.PARTITION_MB_S)
    consumers = max(by_name["inference"], by_name["analytics"], by_name["projector"])
    parts = (
        Partitions(
            "frames/detections/status/vehicle-events/traffic-stats/incidents (co-partitioned)",
            (FRAMES.name, DETECTIONS.name),
            max(consumers, for_bytes),
            f"max(consumer replicas {consumers}, frames {mb_s:,.0f} MB/s / {capacity.PARTITION_MB_S:g} MB/s per "
            f"partition (assumed) = {for_bytes}); frame {capacity.FRAME_BYTES:,} B (720p JPEG q90, measured)",
            FRAMES.partitions_on_cluster,
        ),
        Partitions(
            "cameras (registry)",
            (CAMERAS.name,),
            by_name["ingest"],
            f"ingest replicas {by_name['ingest']} (cameras split by partition)",
            CAMERAS.partitions_on_cluster,
        ),
    )
    if not g.measured:
        notes.append(f"{gpu} inference rate is ESTIMATED, NOT MEASURED: {g.source}")
    return Plan(cameras, float(fps), gpu, frames, tuple(rows), parts, tuple(dict.fromkeys(notes)))


def format_table(pl: Plan) -> str:
    lines = [
        f"Capacity plan: {pl.cameras:,} cameras x {pl.fps:g} fps = {pl.frames_per_s:,.0f} frames/s, inference on "
        f"{pl.gpu}",
        "",
        f"{'deployable':<11} {'replicas':>8} {'cpu req':>8} {'cores':>8} {'GPUs':>5}  {'figure':<24} per-replica rate",
    ]
    for r in pl.rows:
        cpu = "?" if r.cpu_request is None else f"{r.cpu_request:g}"
        cores = "?" if r.cores is None else f"{r.cores:g}"
        label = "measured" if r.measured else "ESTIMATED"
        lines.append(
            f"{r.deployable:<11} {r.replicas:>8} {cpu:>8} {cores:>8} {r.replicas * r.gpus_per_replica:>5}  "
            f"{label:<24} {r.rate}"
        )
    total_cores = "?" if pl.cores is None else f"{pl.cores:g}"
    lines += [f"{'total':<11} {'':>8} {'':>8} {total_cores:>8} {pl.gpus:>5}", "", "Partitions (needed / on cluster):"]
    for p in pl.partitions:
        flag = "" if p.needed <= p.on_cluster else "  <-- MORE THAN THE CLUSTER HAS"
        lines.append(f"  {p.group}: {p.needed} / {p.on_cluster}{flag}")
        lines.append(f"      {p.why}")
    lines += ["", "Sources:"]
    lines += [f"  {r.deployable}: {r.source}" for r in pl.rows]
    if pl.notes:
        lines += ["", "Notes:"] + [f"  - {n}" for n in pl.notes]
    return "\n".join(lines)
