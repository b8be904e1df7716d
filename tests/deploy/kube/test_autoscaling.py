"""Autoscaling of the rendered overlays against the code, the topic catalogue and the measured throughputs.

KEDA never runs more consumers than a topic has partitions (without allowIdleConsumers), so partitions_on_cluster
must cover maxReplicaCount; lagThreshold must follow from the per-replica rate (deploy/kube/capacity.py, the
arithmetic in deploy/k8s/SCALING.md); and the quota must admit every workload at its maximum.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from deploy.kube import OVERLAYS
from deploy.kube.capacity import lag_threshold
from deploy.kube.metrics import series_names
from deploy.kube.podsecurity import pod_spec_of as pod_spec
from inference.settings import InferenceSettings
from projections.settings import ProjectorSettings
from schemas.topics import CAMERAS, topic
from streams.analytics.settings import AnalyticsSettings
from streams.ingest.settings import IngestSettings
from tests.deploy.kube.conftest import Manifests

# The consumer group of each lag-scaled deployable: the settings classes' defaults (Faust: the app id).
GROUPS = {
    "its-inference": InferenceSettings.model_fields["group_id"].default,
    "its-projector": ProjectorSettings.model_fields["group_id"].default,
    "its-analytics": AnalyticsSettings.model_fields["app_id"].default,
    "its-ingest": IngestSettings.model_fields["group_id"].default,
}
SERVICE = {"its-inference": "inference", "its-analytics": "analytics", "its-projector": "projector"}
# Metrics our code does not define. DCGM_FI_DEV_GPU_UTIL: GPU utilisation (%) from NVIDIA's dcgm-exporter (GPU
# Operator), labelled with the pod that holds the GPU.
EXTERNAL_METRICS = {"DCGM_FI_DEV_GPU_UTIL"}
PROMETHEUS = "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
NAMESPACES = {"dev": "its-camera-ai-dev", "staging": "its-camera-ai-staging", "prod": "its-camera-ai"}
Find = Callable[..., Manifests]


def _scaled(rendered: dict[str, Manifests], overlay: str) -> Manifests:
    return [d for d in rendered[overlay] if d["kind"] == "ScaledObject"]


def _kafka_triggers(rendered: dict[str, Manifests]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (o, so, t)
        for o in OVERLAYS
        for so in _scaled(rendered, o)
        for t in so["spec"]["triggers"]
        if t["type"] == "kafka"
    ]


def _hardware(deployment: dict[str, Any]) -> str:
    """cpu, or the GPU kind the inference Deployment is placed on (node pool gpu-<kind> or the GPU product)."""
    spec = pod_spec(deployment)
    if not any(c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu") for c in spec["containers"]):
        return "cpu"
    selector = spec.get("nodeSelector", {})
    pool = selector.get("its-camera-ai/node-pool", "")
    product = selector.get("nvidia.com/gpu.product", "")
    for kind, name in (("t4", "Tesla-T4"), ("a100", "A100"), ("h100", "H100")):
        if pool == f"gpu-{kind}" or name in product:
            return kind
    raise AssertionError(f"{deployment['metadata']['name']}: GPU of unknown kind (nodeSelector {selector})")


def test_every_overlay_scales_the_lag_consumers_on_kafka(rendered: dict[str, Manifests]) -> None:
    for overlay in OVERLAYS:
        names = {so["metadata"]["name"] for so in _scaled(rendered, overlay)}
        assert names == {"its-inference", "its-ingest", "its-analytics", "its-projector"}, overlay
        kafka = {so["metadata"]["name"] for o, so, _ in _kafka_triggers(rendered) if o == overlay}
        assert kafka == {"its-inference", "its-analytics", "its-projector"}, overlay


def test_kafka_triggers_match_the_catalogue_and_the_code(rendered: dict[str, Manifests]) -> None:
    for overlay, so, trig in _kafka_triggers(rendered):
        name, md = so["metadata"]["name"], trig["metadata"]
        where = f"{overlay}/{name}"
        t = topic(md["topic"])  # KeyError names the catalogue when the topic is not in it
        assert md["consumerGroup"] == GROUPS[name], where
        assert "allowIdleConsumers" not in md, f"{where}: allowIdleConsumers must stay off"
        assert t.partitions_on_cluster >= so["spec"]["maxReplicaCount"], (
            f"{where}: {t.name} has {t.partitions_on_cluster} partitions on the cluster, fewer than maxReplicaCount "
            f"{so['spec']['maxReplicaCount']}"
        )
        assert md["bootstrapServers"] == "its-kafka-kafka-bootstrap:9093", where
        assert md["tls"] == "enable", where
        assert trig["authenticationRef"]["name"] == "its-kafka-tls", where


def test_lag_thresholds_follow_from_the_measured_rates(rendered: dict[str, Manifests], find: Find) -> None:
    for overlay, so, trig in _kafka_triggers(rendered):
        name = so["metadata"]["name"]
        target = so["spec"]["scaleTargetRef"]["name"]
        deployments = find(overlay, "Deployment", target)
        assert deployments, f"{overlay}/{name}: no Deployment {target} rendered"
        hardware = _hardware(deployments[0]) if name == "its-inference" else "cpu"
        expected = lag_threshold(SERVICE[name], hardware)
        assert int(trig["metadata"]["lagThreshold"]) == expected, (
            f"{overlay}/{name}: lagThreshold {trig['metadata']['lagThreshold']}, the rate on {hardware} gives "
            f"{expected} (deploy/k8s/SCALING.md)"
        )


def test_the_trigger_authentication_uses_the_strimzi_cluster_ca(find: Find) -> None:
    for overlay in OVERLAYS:
        (auth,) = find(overlay, "TriggerAuthentication", "its-kafka-tls")
        assert {"parameter": "ca", "name": "its-kafka-cluster-ca-cert", "key": "ca.crt"} in auth["spec"][
            "secretTargetRef"
        ]
        # and SCRAM-SHA-512 as KafkaUser its-keda (tests/deploy/kube/test_kafka_users.py)
        assert {"parameter": "password", "name": "its-keda", "key": "password"} in auth["spec"]["secretTargetRef"]


def test_scale_targets_are_rendered_deployments_scaled_once(rendered: dict[str, Manifests], find: Find) -> None:
    for overlay in OVERLAYS:
        targets: list[str] = []
        for obj in rendered[overlay]:
            if obj["kind"] in ("ScaledObject", "HorizontalPodAutoscaler"):
                ref = obj["spec"]["scaleTargetRef"]
                assert ref.get("kind", "Deployment") == "Deployment", obj["metadata"]["name"]
                assert find(overlay, "Deployment", ref["name"]), f"{overlay}: {ref['name']} is not rendered"
                targets.append(ref["name"])
        assert len(targets) == len(set(targets)), f"{overlay}: a Deployment has two autoscalers: {targets}"


def test_prometheus_triggers_query_metrics_that_exist(rendered: dict[str, Manifests]) -> None:
    ours = series_names()
    for overlay in OVERLAYS:
        for so in _scaled(rendered, overlay):
            for trig in so["spec"]["triggers"]:
                if trig["type"] != "prometheus":
                    continue
                md = trig["metadata"]
                where = f"{overlay}/{so['metadata']['name']}"
                assert md["serverAddress"] == PROMETHEUS, where
                names = set(re.findall(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\{", md["query"]))
                assert names, f"{where}: no metric in {md['query']!r}"
                for n in names:
                    assert n in ours or n in EXTERNAL_METRICS, f"{where}: {n} is neither ours nor allowlisted"
                namespaces = set(re.findall(r'namespace="([^"]+)"', md["query"]))
                assert namespaces == {NAMESPACES[overlay]}, f"{where}: query scoped to {namespaces}"


def test_ingest_scales_on_ten_active_cameras_per_pod(find: Find) -> None:
    for overlay in OVERLAYS:
        (so,) = find(overlay, "ScaledObject", "its-ingest")
        (trig,) = so["spec"]["triggers"]
        assert trig["type"] == "prometheus" and trig["metadata"]["threshold"] == "10"
        assert trig.get("metricType", "AverageValue") == "AverageValue"
        assert "its_ingest_cameras{" in trig["metadata"]["query"]
        # ingest workers share the fleet by partitions of the registry: more pods than partitions sit idle
        assert CAMERAS.partitions_on_cluster >= so["spec"]["maxReplicaCount"]


def test_gpu_trigger_only_where_inference_has_a_gpu(find: Find) -> None:
    for overlay in OVERLAYS:
        (so,) = find(overlay, "ScaledObject", "its-inference")
        (dep,) = find(overlay, "Deployment", "its-inference")
        gpu = [t for t in so["spec"]["triggers"] if "DCGM_FI_DEV_GPU_UTIL" in t["metadata"].get("query", "")]
        if _hardware(dep) == "cpu":
            assert not gpu, f"{overlay}: inference runs on CPU but scales on GPU utilisation"
        else:
            assert len(gpu) == 1 and gpu[0]["metricType"] == "Value" and gpu[0]["metadata"]["threshold"] == "70"


def test_prod_bounds_are_the_issues_or_the_measured_need(find: Find) -> None:
    """The issue's bounds: analytics' 30 carries 1,000 cameras x 10 fps at the measured 1,929.3 frames/s per replica
    (6 needed; deploy/k8s/SCALING.md; test_plan checks the fit)."""
    (hpa,) = find("prod", "HorizontalPodAutoscaler", "its-api")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 20)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["spec"]["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}
    bounds = {"its-inference": (6, 50), "its-ingest": (10, 100), "its-analytics": (5, 30)}
    for name, (lo, hi) in bounds.items():
        (so,) = find("prod", "ScaledObject", name)
        assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (lo, hi), name


def test_dev_runs_one_or_two_of_everything(rendered: dict[str, Manifests]) -> None:
    for obj in rendered["dev"]:
        if obj["kind"] == "ScaledObject":
            assert (obj["spec"]["minReplicaCount"], obj["spec"]["maxReplicaCount"]) == (1, 2)
        if obj["kind"] == "HorizontalPodAutoscaler":
            assert (obj["spec"]["minReplicas"], obj["spec"]["maxReplicas"]) == (1, 2)


# -- quota ---------------------------------------------------------------------------------------------------
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "m": 1e-3}


def quantity(q: str | int | float) -> float:
    s = str(q)
    for suffix, factor in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if s.endswith(suffix):
            return float(s[: -len(suffix)]) * factor
    return float(s)


def _containers_total(containers: list[dict[str, Any]], kind: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in containers:
        for res, q in c.get("resources", {}).get(kind, {}).items():
            out[res] = out.get(res, 0.0) + quantity(q)
    return out


def _surge(dep: dict[str, Any], replicas: int) -> int:
    rolling = dep["spec"].get("strategy", {}).get("rollingUpdate", {})
    surge = str(rolling.get("maxSurge", "25%"))
    return math.ceil(replicas * float(surge[:-1]) / 100) if surge.endswith("%") else int(surge)


def demand_at_maximum(objs: Manifests) -> dict[str, float]:
    """requests.* and limits.* of every pod this overlay can run at its autoscaling maxima: Deployments at max
    (plus the largest rolling-update surge of any one), StatefulSets, one run of each CronJob, and the pods of the
    Strimzi node pools and the CloudNativePG cluster (their resources are in the custom resources)."""
    maxima: dict[str, int] = {}
    for o in objs:
        if o["kind"] == "ScaledObject":
            maxima[o["spec"]["scaleTargetRef"]["name"]] = o["spec"]["maxReplicaCount"]
        if o["kind"] == "HorizontalPodAutoscaler":
            maxima[o["spec"]["scaleTargetRef"]["name"]] = o["spec"]["maxReplicas"]
    total: dict[str, float] = {}
    surges: list[dict[str, float]] = []

    def add(res: dict[str, float], times: int, into: dict[str, float]) -> None:
        for k, v in res.items():
            into[k] = into.get(k, 0.0) + v * times

    for o in objs:
        kind = o["kind"]
        if kind in ("Deployment", "StatefulSet", "CronJob"):
            spec = pod_spec(o)
            containers = spec["containers"]  # init containers run before, never beside them
            n = maxima.get(o["metadata"]["name"], o["spec"].get("replicas", 1)) if kind != "CronJob" else 1
            per_pod = {
                **{f"requests.{k}": v for k, v in _containers_total(containers, "requests").items()},
                **{f"limits.{k}": v for k, v in _containers_total(containers, "limits").items()},
            }
            add(per_pod, n, total)
            if kind == "Deployment":
                surge: dict[str, float] = {}
                add(per_pod, _surge(o, n), surge)
                surges.append(surge)
        elif kind == "KafkaNodePool" or (kind == "Cluster" and "instances" in o["spec"]):
            res = o["spec"].get("resources", {})
            n = o["spec"].get("replicas", o["spec"].get("instances", 1))
            add({f"{k}.{r}": quantity(q) for k in ("requests", "limits") for r, q in res.get(k, {}).items()}, n, total)
    for key in {k for s in surges for k in s}:
        total[key] = total.get(key, 0.0) + max(s.get(key, 0.0) for s in surges)
    # Extended resources are quota'd as requests.<name> only (requests = limits for them)
    if "limits.nvidia.com/gpu" in total:
        total["requests.nvidia.com/gpu"] = max(
            total.get("requests.nvidia.com/gpu", 0.0), total["limits.nvidia.com/gpu"]
        )
    return total


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_quota_admits_the_overlay_at_its_maxima(rendered: dict[str, Manifests], find: Find, overlay: str) -> None:
    (quota,) = find(overlay, "ResourceQuota")
    hard = {k: quantity(v) for k, v in quota["spec"]["hard"].items()}
    demand = demand_at_maximum(rendered[overlay])
    for key in ("requests.cpu", "limits.cpu", "requests.memory", "limits.memory", "requests.nvidia.com/gpu"):
        need = demand.get(key, 0.0)
        assert hard.get(key, 0.0) >= need, f"{overlay}: quota {key} {hard.get(key)} < {need:g} needed at the maxima"
    assert find(overlay, "LimitRange"), overlay


def test_prod_quota_has_a_gpu_for_every_inference_replica(find: Find) -> None:
    (quota,) = find("prod", "ResourceQuota")
    assert quantity(quota["spec"]["hard"]["requests.nvidia.com/gpu"]) >= 50


def test_the_limit_range_admits_every_container(rendered: dict[str, Manifests], find: Find) -> None:
    for overlay in OVERLAYS:
        (lr,) = find(overlay, "LimitRange")
        (box,) = [x for x in lr["spec"]["limits"] if x["type"] == "Container"]
        for o in rendered[overlay]:
            if o["kind"] in ("Deployment", "StatefulSet", "CronJob"):
                spec = pod_spec(o)
                for c in spec["containers"] + spec.get("initContainers", []):
                    for res in ("cpu", "memory"):
                        lim = quantity(c["resources"]["limits"][res])
                        assert quantity(box["min"][res]) <= lim <= quantity(box["max"][res]), (overlay, c["name"])
