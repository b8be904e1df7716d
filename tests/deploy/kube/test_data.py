"""Data subject: the KafkaTopics are generated from the catalogue, PostgreSQL/Redis/Kafka have the shapes the issue
asks for in every overlay, backups are scheduled, VPA only touches PostgreSQL, and the storage classes are right."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from deploy.kube import OVERLAYS
from deploy.kube.topics import TOPICS_FILE, k8s_name, render_topics
from schemas.topics import CATALOGUE

Find = Callable[..., list[dict[str, Any]]]


def test_committed_topics_file_is_the_generated_one() -> None:
    assert TOPICS_FILE.read_text() == render_topics(), (
        f"{TOPICS_FILE} differs from the topic catalogue (schemas/topics.py): run `itscam k8s topics --write`"
    )


@pytest.mark.parametrize("overlay", ["staging", "prod"])
def test_every_catalogue_topic_has_a_kafka_topic_with_cluster_sizes(find: Find, overlay: str) -> None:
    topics = {t["spec"]["topicName"]: t for t in find(overlay, "KafkaTopic")}
    for t in CATALOGUE:
        kt = topics.get(t.name)
        assert kt is not None, f"{overlay}: no KafkaTopic for {t.name}: run `itscam k8s topics --write`"
        assert kt["metadata"]["name"] == k8s_name(t.name)
        assert kt["metadata"]["labels"]["strimzi.io/cluster"] == "its-kafka", f"KafkaTopic {t.name}: cluster label"
        assert kt["spec"]["partitions"] == t.partitions_on_cluster, (
            f"{overlay}: KafkaTopic {t.name} partitions {kt['spec']['partitions']} != catalogue "
            f"{t.partitions_on_cluster}: regenerate with `itscam k8s topics --write`"
        )
        assert kt["spec"]["replicas"] == t.cluster_replication, f"{overlay}: KafkaTopic {t.name} replicas"
        assert kt["spec"]["config"]["min.insync.replicas"] == "2", f"{overlay}: KafkaTopic {t.name} min.insync"
        for key, value in t.config().items():
            assert kt["spec"]["config"][key] == value, f"{overlay}: KafkaTopic {t.name} config {key}"
    assert set(topics) == {t.name for t in CATALOGUE}, f"{overlay}: KafkaTopics not in the catalogue"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topic_replication_fits_the_brokers(find: Find, overlay: str) -> None:
    brokers = find(overlay, "KafkaNodePool", "broker")[0]["spec"]["replicas"]
    for kt in find(overlay, "KafkaTopic"):
        r, isr = kt["spec"]["replicas"], int(kt["spec"]["config"]["min.insync.replicas"])
        assert r <= brokers and isr <= r, (
            f"{overlay}: KafkaTopic {kt['metadata']['name']} replicas {r} / min.insync {isr} with {brokers} brokers: "
            f"patch the topics in overlays/{overlay}/data"
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_is_kraft_with_node_pools_and_the_contract_listeners(find: Find, overlay: str) -> None:
    (kafka,) = find(overlay, "Kafka", "its-kafka")
    ann = kafka["metadata"]["annotations"]
    assert ann["strimzi.io/kraft"] == "enabled" and ann["strimzi.io/node-pools"] == "enabled"
    listeners = {(x["name"], x["port"], x["tls"]) for x in kafka["spec"]["kafka"]["listeners"]}
    # 9092 for the apps (in the mesh), 9093 for KEDA (outside it): both TLS + SCRAM-SHA-512 (test_kafka_users.py)
    assert listeners == {("scram", 9092, True), ("tls", 9093, True)}, f"{overlay}: Kafka listeners {listeners}"
    assert "kafkaExporter" in kafka["spec"], f"{overlay}: Kafka its-kafka needs kafkaExporter (lag metrics)"
    roles = {p["metadata"]["name"]: p["spec"]["roles"] for p in find(overlay, "KafkaNodePool")}
    assert roles == {"controller": ["controller"], "broker": ["broker"]}
    if overlay != "dev":
        assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
        assert kafka["spec"]["kafka"]["config"]["default.replication.factor"] == 3
        for pool in find(overlay, "KafkaNodePool"):
            assert pool["spec"]["replicas"] == 3, f"{overlay}: KafkaNodePool {pool['metadata']['name']} replicas"


@pytest.mark.parametrize("overlay", ["staging", "prod"])
def test_postgres_has_primary_and_streaming_replica(find: Find, overlay: str) -> None:
    (pg,) = find(overlay, "Cluster", "its-postgres")
    assert pg["spec"]["instances"] == 2, f"{overlay}: Cluster its-postgres needs 2 instances (primary + replica)"
    init = pg["spec"]["bootstrap"]["initdb"]
    assert (init["database"], init["owner"], init["secret"]["name"]) == ("its", "its", "its-postgres-app-credentials")
    assert pg["spec"]["storage"]["storageClass"] == "fast-ssd"
    assert pg["spec"]["backup"]["barmanObjectStore"]["s3Credentials"] == {"inheritFromIAMRole": True}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_backups_are_scheduled(find: Find, overlay: str) -> None:
    sb = find(overlay, "ScheduledBackup", "its-postgres-daily")
    assert sb and sb[0]["spec"]["cluster"]["name"] == "its-postgres" and sb[0]["spec"]["schedule"]
    for name in ("its-pg-dump", "its-redis-backup"):
        cj = find(overlay, "CronJob", name)
        assert cj, f"{overlay}: CronJob {name} missing (deploy/k8s/base/data/backups.yaml)"
        spec = cj[0]["spec"]
        assert spec["schedule"] and spec["concurrencyPolicy"] == "Forbid"
        assert spec["successfulJobsHistoryLimit"] <= 5, f"{overlay}: CronJob {name} keeps too much history"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_vpa_only_on_postgres_and_never_on_an_autoscaled_workload(find: Find, overlay: str) -> None:
    vpas = find(overlay, "VerticalPodAutoscaler")
    targets = {(v["spec"]["targetRef"]["kind"], v["spec"]["targetRef"]["name"]) for v in vpas}
    assert targets == {("Cluster", "its-postgres")}, f"{overlay}: VPA targets {targets}: VPA is for PostgreSQL only"
    scaled: set[tuple[str, str]] = set()
    for hpa in find(overlay, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        scaled.add((ref["kind"], ref["name"]))
    for so in find(overlay, "ScaledObject"):
        ref = so["spec"]["scaleTargetRef"]
        scaled.add((ref.get("kind", "Deployment"), ref["name"]))
    both = targets & scaled
    assert not both, f"{overlay}: {both} are scaled by an HPA/KEDA and by a VPA: remove the VPA"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_redis_master_replicas_and_sentinel_quorum(find: Find, overlay: str) -> None:
    (redis,) = find(overlay, "StatefulSet", "its-redis")
    (sentinel,) = find(overlay, "StatefulSet", "its-redis-sentinel")
    assert redis["spec"]["replicas"] == 3, f"{overlay}: StatefulSet its-redis: master + 2 replicas"
    env = {e["name"]: e.get("value") for e in sentinel["spec"]["template"]["spec"]["containers"][0]["env"]}
    quorum = int(env["SENTINEL_QUORUM"])
    assert 1 < quorum <= sentinel["spec"]["replicas"], (
        f"{overlay}: Sentinel quorum {quorum} with {sentinel['spec']['replicas']} Sentinels: set SENTINEL_QUORUM "
        "to a majority of StatefulSet its-redis-sentinel's replicas"
    )
    (svc,) = find(overlay, "Service", "its-redis-master")
    assert svc["spec"]["selector"] == {"app.kubernetes.io/name": "redis", "redis-role": "master"}
    ports = {p["name"]: p["containerPort"] for c in redis["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
    assert ports == {"redis": 6379, "metrics": 9121}


def test_storage_classes(find: Find) -> None:
    classes = {s["metadata"]["name"]: s for s in find("cluster-wide", "StorageClass")}
    assert set(classes) == {"fast-ssd", "standard-ssd", "gpu-local-nvme", "archive"}
    fast = classes["fast-ssd"]
    assert fast["parameters"]["type"] == "gp3" and fast["parameters"]["iops"] == "16000", (
        "StorageClass fast-ssd must be gp3 at 16000 IOPS (deploy/k8s/cluster-wide/storageclasses.yaml)"
    )
    assert fast["reclaimPolicy"] == "Retain" and fast["parameters"]["encrypted"] == "true"
    assert classes["gpu-local-nvme"]["provisioner"] == "kubernetes.io/no-provisioner"
    assert classes["gpu-local-nvme"]["volumeBindingMode"] == "WaitForFirstConsumer"
    assert classes["archive"]["parameters"]["type"] == "sc1"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_storage_class_asked_for_exists(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    """Volumes name only the StorageClasses deploy/k8s/cluster-wide creates."""
    classes = {s["metadata"]["name"] for s in rendered["cluster-wide"] if s["kind"] == "StorageClass"}
    text = json.dumps(rendered[overlay])
    asked = set(re.findall(r'"(?:storageClassName|storageClass|class)": "([a-z0-9-]+)"', text))
    assert asked, f"overlay {overlay} asks for no StorageClass at all"
    assert asked <= classes, f"overlay {overlay} asks for StorageClasses {sorted(asked - classes)} that don't exist"
