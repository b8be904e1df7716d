"""Kafka on Kubernetes: TLS + SCRAM-SHA-512 listeners with simple authorization, one KafkaUser per identity of
eventbus/identities.py with exactly its ACLs (generated: deploy/kube/kafkausers.py), valid against the Strimzi
KafkaUser schema, and each deployable configured as its own user (the Secret Strimzi makes, the cluster CA)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from deploy.kube import OVERLAYS
from deploy.kube.kafkausers import KEDA, LAG_TRIGGERS, USERS, USERS_FILE, kafka_user, render_users
from deploy.kube.podsecurity import pod_spec_of as pod_spec
from deploy.kube.validate import kubeconform
from eventbus.config import KafkaSecurity
from eventbus.identities import IDENTITIES, Identity, identity
from tests.deploy.kube.conftest import Manifests

Find = Callable[..., Manifests]
DEPLOYABLES = ("ingest", "inference", "analytics", "projector", "api")
CASES = [(o, x) for o in OVERLAYS for x in DEPLOYABLES]


def test_committed_users_file_is_the_generated_one() -> None:
    assert USERS_FILE.read_text() == render_users(), (
        f"{USERS_FILE} differs from eventbus/identities.py: run `itscam k8s users --write`"
    )


def test_generated_users_are_valid_kafka_users() -> None:
    errors = kubeconform(USERS_FILE.read_text())
    assert not errors, "\n".join(errors)


def test_a_changed_identity_changes_the_yaml() -> None:
    """The YAML really follows the table: dropping an ACL from an identity gives another KafkaUser."""
    ingest = identity("ingest")
    fewer = Identity(ingest.name, ingest.username, ingest.acls[1:])
    assert kafka_user(fewer) != kafka_user(ingest)
    (doc,) = [d for d in yaml.safe_load_all(USERS_FILE.read_text()) if d and d["metadata"]["name"] == "its-ingest"]
    assert doc != kafka_user(fewer)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_identity_has_its_kafka_user_with_exactly_its_acls(find: Find, overlay: str) -> None:
    users = {u["metadata"]["name"]: u for u in find(overlay, "KafkaUser")}
    assert set(users) == {i.username for i in USERS}, (
        f"{overlay}: KafkaUsers {sorted(users)}, identities (+ KEDA) {sorted(i.username for i in USERS)}"
    )
    for ident in IDENTITIES:
        u = users[ident.username]
        assert u["metadata"]["labels"]["strimzi.io/cluster"] == "its-kafka"
        assert u["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert u["spec"]["authorization"]["type"] == "simple"
        assert u["spec"]["authorization"]["acls"] == ident.strimzi_acls(), (
            f"{overlay}: KafkaUser {ident.username}'s ACLs differ from eventbus/identities.py: run "
            "`itscam k8s users --write`"
        )
        for acl in u["spec"]["authorization"]["acls"]:
            assert acl.get("type", "allow") == "allow", f"{overlay}: {ident.username}: deny rules are not used"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_listeners_are_tls_with_scram_and_authorization_is_simple(find: Find, overlay: str) -> None:
    (kafka,) = find(overlay, "Kafka", "its-kafka")
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["tls"] is True, f"{overlay}: listener {listener['name']} is not TLS"
        assert listener.get("authentication", {}).get("type") == "scram-sha-512", (
            f"{overlay}: listener {listener['name']} accepts clients without SCRAM-SHA-512"
        )
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert not kafka["spec"]["kafka"]["authorization"].get("superUsers"), f"{overlay}: no super users of ours"
    assert "allow.everyone.if.no.acl.found" not in kafka["spec"]["kafka"].get("config", {})


def _container(find: Find, overlay: str, x: str) -> dict[str, Any]:
    (d,) = find(overlay, "Deployment", f"its-{x}")
    (c,) = [c for c in pod_spec(d)["containers"] if c["name"] == x]
    return dict(c)


def _config(find: Find, overlay: str, x: str) -> dict[str, str]:
    (cm,) = [c for c in find(overlay, "ConfigMap") if c["metadata"]["name"].startswith(f"its-{x}-config")]
    return {k: str(v) for k, v in cm["data"].items()}


@pytest.mark.parametrize(("overlay", "x"), CASES)
def test_each_deployable_is_its_own_kafka_user(
    find: Find, monkeypatch: pytest.MonkeyPatch, overlay: str, x: str
) -> None:
    ident = identity(x)
    cfg = _config(find, overlay, x)
    assert cfg["ITS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert cfg["ITS_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert cfg["ITS_KAFKA_SASL_USERNAME"] == ident.username, f"{overlay}: its-{x} must log in as {ident.username}"
    c = _container(find, overlay, x)
    env = {e["name"]: e for e in c.get("env", [])}
    ref = env["ITS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": ident.username, "key": "password"}, (
        f"{overlay}: its-{x} must read its password from the Secret of KafkaUser {ident.username} (key password)"
    )
    # the CA file lies in a volume made from the Strimzi cluster CA Secret
    ca = cfg["ITS_KAFKA_SSL_CA_LOCATION"]
    (d,) = find(overlay, "Deployment", f"its-{x}")
    volumes = {v["name"]: v for v in pod_spec(d)["volumes"]}
    mounts = [m for m in c["volumeMounts"] if ca.startswith(m["mountPath"].rstrip("/") + "/")]
    assert len(mounts) == 1 and mounts[0].get("readOnly") is True, f"{overlay}: its-{x} mounts no CA at {ca}"
    secret = volumes[mounts[0]["name"]]["secret"]
    assert secret["secretName"] == "its-kafka-cluster-ca-cert"
    assert {"key": "ca.crt", "path": ca.rsplit("/", 1)[1]} in secret["items"]
    # and the shared client settings accept it
    for name in [n for n in __import__("os").environ if n.startswith("ITS_KAFKA_")]:
        monkeypatch.delenv(name)
    for k, v in cfg.items():
        if k.startswith("ITS_KAFKA_") and k != "ITS_KAFKA_BOOTSTRAP":
            monkeypatch.setenv(k, v)
    monkeypatch.setenv("ITS_KAFKA_SASL_PASSWORD", "from-the-secret")
    sec = KafkaSecurity()
    assert sec.sasl and sec.tls and sec.sasl_username == ident.username


def _matches(ident: Identity, kind: str, name: str, op: str) -> bool:
    for a in ident.acls:
        if a.resource != kind or (op not in a.operations and "ALL" not in a.operations):
            continue
        if a.name == name or (a.pattern == "prefix" and name.startswith(a.name)) or a.name == "*":
            return True
    return False


@pytest.mark.parametrize(("overlay", "x"), CASES)
def test_configured_groups_and_topics_are_allowed_by_the_identity(find: Find, overlay: str, x: str) -> None:
    """The group id and the topics a deployable is configured with are among its ACLs (a renamed group or topic in
    config.env must be renamed in eventbus/identities.py too, or the broker refuses it)."""
    ident, cfg = identity(x), _config(find, overlay, x)
    for k, v in cfg.items():
        if k.endswith("_GROUP_ID") or k == "ITS_ANALYTICS_APP_ID":
            assert _matches(ident, "group", v, "READ"), f"{overlay}: {k}={v} is not a group {ident.username} may use"
        if k.endswith("_TOPIC") and v:
            ok = _matches(ident, "topic", v, "READ") or _matches(ident, "topic", v, "WRITE")
            assert ok, f"{overlay}: {k}={v}: {ident.username} may neither read nor write it"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_inference_transactional_ids_are_under_its_prefix(find: Find, overlay: str) -> None:
    """Inference's transactional id is its pod name (its-inference-<hash>-<id>): inside its identity's prefix."""
    env = {e["name"]: e for e in _container(find, overlay, "inference").get("env", [])}
    assert env["ITS_INFERENCE_TRANSACTIONAL_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert _matches(identity("inference"), "transactional_id", "its-inference-7d9f8c6b5-x2x4z", "WRITE")
    assert not _matches(identity("inference"), "transactional_id", "its-analytics-1", "WRITE")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_reads_lag_as_its_own_describe_only_user(find: Find, overlay: str) -> None:
    triggers = {
        (t["metadata"]["consumerGroup"], t["metadata"]["topic"])
        for so in find(overlay, "ScaledObject")
        for t in so["spec"]["triggers"]
        if t["type"] == "kafka"
    }
    assert triggers and triggers <= set(LAG_TRIGGERS), (
        f"{overlay}: KEDA watches {sorted(triggers - set(LAG_TRIGGERS))}, which KafkaUser its-keda may not describe: "
        "add them to LAG_TRIGGERS in deploy/kube/kafkausers.py"
    )
    assert all(a.operations == ("DESCRIBE",) for a in KEDA.acls)
    (auth,) = find(overlay, "TriggerAuthentication", "its-kafka-tls")
    secrets = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert secrets["password"]["name"] == KEDA.username and secrets["password"]["key"] == "password"
    maps = {r["parameter"]: r for r in auth["spec"]["configMapTargetRef"]}
    (cm,) = find(overlay, "ConfigMap", maps["username"]["name"])
    assert cm["data"][maps["username"]["key"]] == KEDA.username
    assert cm["data"][maps["sasl"]["key"]] == "scram_sha512"
