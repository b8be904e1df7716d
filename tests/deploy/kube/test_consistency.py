"""Manifests against the code, across subjects: the topics each pod is configured with are the catalogue's (and
have KafkaTopics), and the consumer groups the pods run under are the ones KEDA scales on and the alerts watch."""

from __future__ import annotations

import re

import pytest

from deploy.kube import OVERLAYS
from schemas.topics import CATALOGUE
from tests.deploy.kube.conftest import Manifests
from tests.deploy.kube.test_workloads import Find, provided_env

DEPLOYABLES = ("api", "inference", "ingest", "analytics", "projector")
# The setting that names each lag-scaled deployable's consumer group (Faust: the app id).
GROUP_SETTING = {
    "inference": "ITS_INFERENCE_GROUP_ID",
    "projector": "ITS_PROJECTOR_GROUP_ID",
    "analytics": "ITS_ANALYTICS_APP_ID",
    "ingest": "ITS_INGEST_GROUP_ID",
}


_TOPIC_KEY = re.compile(r"(^|_)TOPIC(_|$)")


def _topics(env: dict[str, str]) -> dict[str, str]:
    """The settings that name a topic (ITS_X_FRAMES_TOPIC, ITS_ANALYTICS_DETECTIONS_TOPIC, ...)."""
    return {k: v for k, v in env.items() if _TOPIC_KEY.search(k)}


def _kafka_topics(rendered: dict[str, Manifests], overlay: str) -> set[str]:
    return {d["spec"]["topicName"] for d in rendered[overlay] if d["kind"] == "KafkaTopic"}


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("x", DEPLOYABLES)
def test_configured_topics_are_catalogue_topics_with_kafka_topics(
    rendered: dict[str, Manifests], find: Find, overlay: str, x: str
) -> None:
    catalogue = {t.name for t in CATALOGUE}
    declared = _kafka_topics(rendered, overlay)
    assert declared == catalogue, (
        f"overlay {overlay}: KafkaTopics {sorted(declared ^ catalogue)} differ from the catalogue"
    )
    for key, value in _topics(provided_env(find, overlay, x)).items():
        assert value in catalogue, f"overlay {overlay}: its-{x} sets {key}={value}, which is not in schemas/topics.py"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_on_the_groups_the_pods_consume_as(
    rendered: dict[str, Manifests], find: Find, overlay: str
) -> None:
    for so in (d for d in rendered[overlay] if d["kind"] == "ScaledObject"):
        x = so["spec"]["scaleTargetRef"]["name"].removeprefix("its-")
        for trig in so["spec"]["triggers"]:
            if trig["type"] != "kafka":
                continue
            group = provided_env(find, overlay, x)[GROUP_SETTING[x]]
            assert trig["metadata"]["consumerGroup"] == group, (
                f"overlay {overlay}: ScaledObject {so['metadata']['name']} watches group "
                f"{trig['metadata']['consumerGroup']}, but its-{x} consumes as {group} ({GROUP_SETTING[x]})"
            )
            topics = set(_topics(provided_env(find, overlay, x)).values())
            assert trig["metadata"]["topic"] in topics, (
                f"overlay {overlay}: ScaledObject {so['metadata']['name']} watches {trig['metadata']['topic']}, "
                f"which its-{x} does not read ({sorted(topics)})"
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_lag_alerts_watch_the_groups_the_pods_consume_as(
    rendered: dict[str, Manifests], find: Find, overlay: str
) -> None:
    groups = {provided_env(find, overlay, x)[GROUP_SETTING[x]] for x in ("inference", "analytics", "projector")}
    watched: set[str] = set()
    for rule in (d for d in rendered[overlay] if d["kind"] == "PrometheusRule"):
        for group in rule["spec"]["groups"]:
            for r in group["rules"]:
                for m in re.finditer(r'consumergroup=~?"([^"]+)"', r["expr"]):
                    watched |= set(m.group(1).split("|"))
    assert groups <= watched, f"overlay {overlay}: no lag rule watches consumer groups {sorted(groups - watched)}"
    assert watched <= groups, f"overlay {overlay}: lag rules watch groups no pod uses: {sorted(watched - groups)}"
