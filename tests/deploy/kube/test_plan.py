"""`itscam plan`: the prod overlay's bounds, the topic catalogue and the cluster's node pools carry 1,000 cameras at
10 fps by the plan; the arithmetic is monotone; bad input is refused clearly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.kube.capacity import GPUS, gpu_fps
from deploy.kube.plan import Plan, PlanError, format_table, plan
from deploy.kube.podsecurity import pod_spec_of as pod_spec
from schemas.topics import CAMERAS, FRAMES
from tests.deploy.kube.conftest import Manifests
from tests.deploy.kube.test_autoscaling import quantity

REPO = Path(__file__).resolve().parents[3]
CLUSTER = REPO / "deploy" / "k8s" / "cluster" / "eksctl-cluster.yaml"
DEPLOYABLES = ("ingest", "inference", "analytics", "projector", "api")
Find = Callable[..., Manifests]


@pytest.fixture(scope="module")
def prod_plan(rendered: dict[str, Manifests]) -> Plan:
    return plan(1000, 10, "t4", manifests=rendered["prod"])


def _max_replicas(find: Find, deployable: str) -> int:
    name = f"its-{deployable}"
    for so in find("prod", "ScaledObject", name):
        return int(so["spec"]["maxReplicaCount"])
    (hpa,) = find("prod", "HorizontalPodAutoscaler", name)
    return int(hpa["spec"]["maxReplicas"])


@pytest.mark.parametrize("deployable", DEPLOYABLES)
def test_prod_bounds_carry_1000_cameras_at_10_fps(prod_plan: Plan, find: Find, deployable: str) -> None:
    need, cap = prod_plan.replicas(deployable), _max_replicas(find, deployable)
    assert need <= cap, f"{deployable}: the plan needs {need} replicas for 1,000 cameras x 10 fps, prod allows {cap}"


def test_partitions_on_the_cluster_carry_the_plan(prod_plan: Plan) -> None:
    for p in prod_plan.partitions:
        assert p.needed <= p.on_cluster, f"{p.group}: needs {p.needed} partitions, the cluster has {p.on_cluster}"
    assert {p.on_cluster for p in prod_plan.partitions} == {FRAMES.partitions_on_cluster, CAMERAS.partitions_on_cluster}


def test_the_prod_quota_has_the_plans_gpus(prod_plan: Plan, find: Find) -> None:
    (quota,) = find("prod", "ResourceQuota")
    assert prod_plan.gpus <= quantity(quota["spec"]["hard"]["requests.nvidia.com/gpu"])
    assert prod_plan.gpus == prod_plan.replicas("inference")  # one GPU per inference replica


def test_cores_come_from_the_rendered_prod_deployments(prod_plan: Plan, find: Find) -> None:
    for row in prod_plan.rows:
        (dep,) = find("prod", "Deployment", f"its-{row.deployable}")
        want = sum(quantity(c["resources"]["requests"]["cpu"]) for c in pod_spec(dep)["containers"])
        assert row.cpu_request == pytest.approx(want), row.deployable
    assert prod_plan.cores == pytest.approx(sum(r.replicas * (r.cpu_request or 0) for r in prod_plan.rows))


def test_estimates_are_marked_and_h100_is_measured(rendered: dict[str, Manifests]) -> None:
    assert gpu_fps("h100").measured and gpu_fps("h100").value == 2247.3  # lowest best_end_to_end_fps of 4 runs
    for gpu in ("t4", "a100"):
        fig = gpu_fps(gpu)
        assert not fig.measured, f"{gpu} was not measured here; a results file would make it so"
        text = format_table(plan(1000, 10, gpu, manifests=rendered["prod"]))
        assert "ESTIMATED" in text and f"{gpu} inference rate is ESTIMATED, NOT MEASURED" in text


@pytest.mark.parametrize("gpu", GPUS)
def test_more_cameras_or_fps_never_need_fewer_replicas(rendered: dict[str, Manifests], gpu: str) -> None:
    prev: Plan | None = None
    for cameras, fps in [(1, 1.0), (10, 5.0), (100, 10.0), (500, 10.0), (1000, 10.0), (1000, 15.0), (5000, 15.0)]:
        cur = plan(cameras, fps, gpu, manifests=rendered["prod"])
        if prev is not None:
            for d in DEPLOYABLES:
                assert cur.replicas(d) >= prev.replicas(d), (gpu, d, cameras, fps)
            for a, b in zip(cur.partitions, prev.partitions, strict=True):
                assert a.needed >= b.needed
            assert cur.gpus >= prev.gpus
        prev = cur


def test_a_faster_gpu_needs_no_more_gpus(rendered: dict[str, Manifests]) -> None:
    gpus = {g: plan(1000, 10, g, manifests=rendered["prod"]).gpus for g in GPUS}
    assert gpus["h100"] <= gpus["a100"] <= gpus["t4"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cameras": 0, "fps": 10, "gpu": "t4"}, "--cameras must be a whole number"),
        ({"cameras": -5, "fps": 10, "gpu": "t4"}, "--cameras must be a whole number"),
        ({"cameras": 2.5, "fps": 10, "gpu": "t4"}, "--cameras must be a whole number"),
        ({"cameras": 10, "fps": 0, "gpu": "t4"}, "--fps must be a number above 0"),
        ({"cameras": 10, "fps": float("nan"), "gpu": "t4"}, "--fps must be a number above 0"),
        ({"cameras": 10, "fps": 500, "gpu": "t4"}, "--fps must be a number above 0"),
        ({"cameras": 10, "fps": 10, "gpu": "v100"}, "--gpu must be one of t4, a100, h100"),
    ],
)
def test_bad_input_is_refused_clearly(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan(manifests=[], **kwargs)


def test_the_cli_prints_the_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    from itscam.main import main

    assert main(["plan", "--cameras", "1000", "--fps", "10", "--gpu", "t4"]) == 0
    out = capsys.readouterr().out
    assert "1,000 cameras x 10 fps = 10,000 frames/s" in out
    for d in DEPLOYABLES:
        assert f"\n{d} " in out
    assert main(["plan", "--cameras", "100", "--fps", "5", "--gpu", "h100", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["frames_per_s"] == 500 and data["gpu"] == "h100" and data["gpus"] >= 1


def test_the_installed_command_runs_and_names_the_gpu_choices() -> None:
    exe = Path(sys.executable).parent / "itscam"
    ok = subprocess.run(
        [str(exe), "plan", "--cameras", "1000", "--fps", "10", "--gpu", "t4"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "inference" in ok.stdout and "ESTIMATED" in ok.stdout
    bad = subprocess.run(
        [str(exe), "plan", "--cameras", "10", "--fps", "10", "--gpu", "v100"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert bad.returncode == 2 and "t4" in bad.stderr and "h100" in bad.stderr


# -- the cluster's node pools --------------------------------------------------------------------------------
def _node_groups() -> dict[str, dict[str, Any]]:
    cfg = yaml.safe_load(CLUSTER.read_text(encoding="utf-8"))
    return {ng["name"]: ng for ng in cfg["managedNodeGroups"]}


def _tolerated(taint: dict[str, str], tolerations: list[dict[str, Any]]) -> bool:
    for t in tolerations:
        if t.get("effect", taint["effect"]) != taint["effect"] or t.get("key") != taint["key"]:
            continue
        if t.get("operator", "Equal") == "Exists" or t.get("value") == taint["value"]:
            return True
    return False


def test_the_gpu_pool_carries_the_plan_and_matches_inference(prod_plan: Plan, find: Find) -> None:
    pool = _node_groups()["gpu-t4"]
    assert pool["maxSize"] >= prod_plan.gpus, f"gpu-t4 maxSize {pool['maxSize']} < {prod_plan.gpus} GPUs planned"
    assert pool["maxSize"] >= _max_replicas(find, "inference")
    (dep,) = find("prod", "Deployment", "its-inference")
    spec = pod_spec(dep)
    for key, value in spec.get("nodeSelector", {}).items():
        assert pool["labels"].get(key) == value, f"inference selects {key}={value}; gpu-t4 has {pool['labels']}"
    assert pool["labels"]["nvidia.com/gpu.product"] == "Tesla-T4"
    assert pool["labels"]["its-camera-ai/node-pool"] == "gpu-t4"
    assert pool["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    for taint in pool["taints"]:
        assert _tolerated(taint, spec.get("tolerations", [])), f"inference does not tolerate {taint}"


def test_the_data_and_general_pools_match_the_contract() -> None:
    groups = _node_groups()
    assert set(groups) == {"general", "data", "gpu-t4"}
    assert groups["general"]["labels"] == {"its-camera-ai/node-pool": "general"} and "taints" not in groups["general"]
    assert groups["data"]["labels"] == {"its-camera-ai/node-pool": "data"}
    assert groups["data"]["taints"] == [{"key": "dedicated", "value": "data", "effect": "NoSchedule"}]


# vCPUs of the instance types deploy/k8s/cluster/eksctl-cluster.yaml uses (AWS's published sizes).
_VCPUS = {"m6i.4xlarge": 16, "r6i.4xlarge": 16, "g4dn.2xlarge": 8}


def test_the_general_pool_holds_the_cpu_deployables_at_their_maxima(find: Find) -> None:
    """ingest, analytics, projector and api run on the untainted general pool: at their prod maximum replicas their
    CPU requests must fit in the pool's largest size (the cluster autoscaler cannot grow it further)."""
    pool = _node_groups()["general"]
    capacity = pool["maxSize"] * _VCPUS[pool["instanceType"]]
    need = 0.0
    for d in ("ingest", "analytics", "projector", "api"):
        (dep,) = find("prod", "Deployment", f"its-{d}")
        assert not pod_spec(dep).get("nodeSelector"), f"its-{d} is expected on the general pool"
        cpu = sum(quantity(c["resources"]["requests"]["cpu"]) for c in pod_spec(dep)["containers"])
        need += cpu * _max_replicas(find, d)
    assert capacity >= need, f"general pool: {capacity} vCPU at maxSize < {need:g} requested at the prod maxima"
