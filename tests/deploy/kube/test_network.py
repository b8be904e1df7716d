"""Network policies, evaluated: every namespace denies by default, every pod may resolve DNS, each required flow is
allowed at both ends (the source's egress and the destination's ingress) and a forbidden flow is not.

A tiny evaluator of networking.k8s.io/v1 NetworkPolicy semantics: a pod selected by no policy of a type is open for
that type; selected by some, a connection is allowed when one of them has a rule whose peer and port match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from deploy.kube import OVERLAYS
from deploy.kube.podsecurity import WORKLOAD_KINDS

Find = Callable[..., list[dict[str, Any]]]
Labels = dict[str, str]
NAMESPACES = {"dev": "its-camera-ai-dev", "staging": "its-camera-ai-staging", "prod": "its-camera-ai"}


@dataclass(frozen=True)
class Endpoint:
    """A pod (labels, namespace) or, with namespace None and no labels, an address outside the cluster."""

    name: str
    labels: Labels = field(default_factory=dict)
    namespace: str | None = "<app>"  # "<app>": the overlay's namespace


def app(name: str) -> Endpoint:
    return Endpoint(name, {"app.kubernetes.io/name": name, "app.kubernetes.io/component": name})


API, INFERENCE, INGEST, ANALYTICS, PROJECTOR = (
    app(n) for n in ("api", "inference", "ingest", "analytics", "projector")
)
DEPLOYABLES = (API, INFERENCE, INGEST, ANALYTICS, PROJECTOR)
BROKER = Endpoint(
    "kafka broker", {"strimzi.io/cluster": "its-kafka", "strimzi.io/kind": "Kafka", "strimzi.io/broker-role": "true"}
)
CONTROLLER = Endpoint(
    "kafka controller",
    {"strimzi.io/cluster": "its-kafka", "strimzi.io/kind": "Kafka", "strimzi.io/controller-role": "true"},
)
POSTGRES = Endpoint("postgres", {"cnpg.io/cluster": "its-postgres", "cnpg.io/instanceRole": "primary"})
POSTGRES_REPLICA = Endpoint("postgres replica", {"cnpg.io/cluster": "its-postgres", "cnpg.io/instanceRole": "replica"})
REDIS = Endpoint("redis", {"app.kubernetes.io/name": "redis", "redis-role": "master"})
REDIS_REPLICA = Endpoint("redis replica", {"app.kubernetes.io/name": "redis", "redis-role": "replica"})
REDIS_CACHE = Endpoint("redis cache", {"app.kubernetes.io/name": "redis-cache"})
SENTINEL = app("redis-sentinel")
PG_DUMP, REDIS_BACKUP, DB_RETENTION = app("pg-dump"), app("redis-backup"), app("db-retention")
MONITORING = Endpoint("prometheus", {"app.kubernetes.io/name": "prometheus"}, "monitoring")
NGINX = Endpoint("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "ingress-nginx")
KEDA = Endpoint("keda", {"app": "keda-operator"}, "keda")
STRIMZI = Endpoint("strimzi operator", {"name": "strimzi-cluster-operator"}, "strimzi")
CNPG = Endpoint("cnpg operator", {"app.kubernetes.io/name": "cloudnative-pg"}, "cnpg-system")
KUBE_DNS = Endpoint("kube-dns", {"k8s-app": "kube-dns"}, "kube-system")
ISTIOD = Endpoint("istiod", {"app": "istiod"}, "istio-system")
CAMERA = Endpoint("a camera", {}, None)
S3 = Endpoint("S3", {}, None)

# (source, destination, port, why)
REQUIRED: list[tuple[Endpoint, Endpoint, int, str]] = [
    *[(d, BROKER, 9092, "every deployable uses Kafka") for d in DEPLOYABLES],
    (API, POSTGRES, 5432, "the API reads the read models"),
    (PROJECTOR, POSTGRES, 5432, "the projector writes the read models"),
    (API, REDIS, 6379, "the API reads Redis"),
    (API, REDIS_CACHE, 6379, "the API's query cache"),
    (PROJECTOR, REDIS, 6379, "the projector writes Redis"),
    (INGEST, CAMERA, 554, "ingest reads RTSP cameras"),
    (INGEST, CAMERA, 443, "ingest reads HTTPS cameras"),
    *[(MONITORING, d, 9090, "Prometheus scrapes the deployables") for d in DEPLOYABLES],
    (NGINX, API, 8000, "the Ingress reaches the API"),
    (KEDA, BROKER, 9093, "KEDA reads lag over TLS"),
    (BROKER, BROKER, 9091, "replication between brokers"),
    (BROKER, CONTROLLER, 9090, "brokers talk to the KRaft quorum"),
    (STRIMZI, BROKER, 9091, "the Strimzi operator manages the brokers"),
    (POSTGRES_REPLICA, POSTGRES, 5432, "streaming replication"),
    (CNPG, POSTGRES, 8000, "the CNPG operator reads instance status"),
    (PG_DUMP, POSTGRES_REPLICA, 5432, "pg_dump reads the replica"),
    (PG_DUMP, S3, 443, "pg_dump uploads to S3"),
    (POSTGRES, S3, 443, "Barman archives WAL to S3"),
    (DB_RETENTION, POSTGRES, 5432, "the retention job drops partitions"),
    (REDIS_REPLICA, REDIS, 6379, "Redis replication"),
    (SENTINEL, REDIS, 6379, "Sentinels watch Redis"),
    (SENTINEL, SENTINEL, 26379, "Sentinels talk to each other"),
    (REDIS_BACKUP, REDIS_REPLICA, 6379, "the RDB backup reads a replica"),
    (MONITORING, REDIS, 9121, "Prometheus scrapes the Redis exporter"),
    (API, ISTIOD, 15012, "sidecars reach istiod"),
]
FORBIDDEN: list[tuple[Endpoint, Endpoint, int, str]] = [
    (INFERENCE, POSTGRES, 5432, "inference has no business with PostgreSQL"),
    (INGEST, REDIS, 6379, "ingest has no business with Redis"),
    (PROJECTOR, REDIS_CACHE, 6379, "only the API uses the query cache"),
    (ANALYTICS, POSTGRES, 5432, "analytics writes Kafka only"),
    (INFERENCE, CAMERA, 554, "only ingest talks to cameras"),
    (NGINX, PROJECTOR, 9090, "the Ingress reaches the API only"),
    (MONITORING, POSTGRES, 5432, "Prometheus scrapes metrics ports only"),
]


def _selects(selector: dict[str, Any] | None, labels: Labels) -> bool:
    if selector is None:
        return False
    for k, v in selector.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_matches(peer: dict[str, Any], other: Endpoint, policy_ns: str) -> bool:
    if "ipBlock" in peer:  # only addresses outside the cluster are checked against ipBlocks here
        return other.namespace is None
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace}):
            return False
    elif other.namespace != policy_ns:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], other.labels)


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        lo = p.get("port")
        if lo is None or (isinstance(lo, int) and lo <= port <= p.get("endPort", lo)):
            return True
    return False


def allowed(
    policies: list[dict[str, Any]], ns: str, pod: Endpoint, direction: str, other: Endpoint, port: int, proto: str
) -> tuple[bool, list[str]]:
    """Is `pod` (in ns) allowed to send to (Egress) / receive from (Ingress) `other` on port? And which policies
    select the pod for that direction."""
    key, peers = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    selecting = [
        p
        for p in policies
        if direction in p["spec"].get("policyTypes", ["Ingress"]) and _selects(p["spec"]["podSelector"], pod.labels)
    ]
    names = [p["metadata"]["name"] for p in selecting]
    if not selecting:
        return True, names
    for p in selecting:
        for rule in p["spec"].get(key) or []:
            rule_peers = rule.get(peers)
            peer_ok = not rule_peers or any(_peer_matches(x, other, ns) for x in rule_peers)
            if peer_ok and _port_matches(rule.get("ports"), port, proto):
                return True, names
    return False, names


def _resolve(e: Endpoint, ns: str) -> Endpoint:
    return Endpoint(e.name, e.labels, ns if e.namespace == "<app>" else e.namespace)


def _flow(find: Find, overlay: str, src: Endpoint, dst: Endpoint, port: int, proto: str = "TCP") -> tuple[bool, str]:
    ns = NAMESPACES[overlay]
    policies = find(overlay, "NetworkPolicy")
    s, d = _resolve(src, ns), _resolve(dst, ns)
    ok_out, why_out = True, ""
    if s.namespace == ns:
        ok_out, names = allowed(policies, ns, s, "Egress", d, port, proto)
        why_out = f"egress of {src.name} (policies {names})"
    ok_in, why_in = True, ""
    if d.namespace == ns:
        ok_in, names = allowed(policies, ns, d, "Ingress", s, port, proto)
        why_in = f"ingress of {dst.name} (policies {names})"
    missing = [w for ok, w in ((ok_out, why_out), (ok_in, why_in)) if not ok]
    return ok_out and ok_in, " and ".join(missing)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespace_denies_ingress_and_egress_by_default(find: Find, overlay: str) -> None:
    deny = [
        p
        for p in find(overlay, "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, f"{overlay}: no default-deny NetworkPolicy (podSelector {{}}, Ingress+Egress, no rules)"
    assert all(p.get("metadata", {}).get("namespace") == NAMESPACES[overlay] for p in deny)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_may_resolve_dns(find: Find, rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    pods = [o for o in rendered[overlay] if o.get("kind") in WORKLOAD_KINDS]
    assert pods, f"{overlay}: no workloads rendered"
    templates = [
        (o, o["spec"]["jobTemplate"]["spec"]["template"] if o["kind"] == "CronJob" else o["spec"]["template"])
        for o in pods
    ]
    for obj, tpl in [*templates, (None, {"metadata": {"labels": BROKER.labels}})]:
        who = f"{obj['kind']}/{obj['metadata']['name']}" if obj else "the Kafka brokers"
        me = Endpoint(who, tpl["metadata"].get("labels", {}))
        for proto in ("UDP", "TCP"):
            ok, why = _flow(find, overlay, me, KUBE_DNS, 53, proto)
            assert ok, f"{overlay}: {who} cannot reach kube-dns 53/{proto}: {why}; see network/default-deny.yaml"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize(
    ("src", "dst", "port", "why"), REQUIRED, ids=[f"{s.name}->{d.name}:{p}" for s, d, p, _ in REQUIRED]
)
def test_required_flow_is_allowed(find: Find, overlay: str, src: Endpoint, dst: Endpoint, port: int, why: str) -> None:
    ok, missing = _flow(find, overlay, src, dst, port)
    assert ok, (
        f"{overlay}: {src.name} -> {dst.name}:{port} ({why}) is blocked at the {missing}: add the allow in "
        "deploy/k8s/base/network"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize(
    ("src", "dst", "port", "why"), FORBIDDEN, ids=[f"{s.name}->{d.name}:{p}" for s, d, p, _ in FORBIDDEN]
)
def test_forbidden_flow_is_blocked(find: Find, overlay: str, src: Endpoint, dst: Endpoint, port: int, why: str) -> None:
    ok, _ = _flow(find, overlay, src, dst, port)
    assert not ok, (
        f"{overlay}: {src.name} -> {dst.name}:{port} is allowed, but {why}: narrow the NetworkPolicies in "
        "deploy/k8s/base/network"
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mtls_is_strict_for_the_namespace(find: Find, overlay: str) -> None:
    wide = [p for p in find(overlay, "PeerAuthentication") if not p["spec"].get("selector")]
    assert [p["spec"]["mtls"]["mode"] for p in wide] == ["STRICT"], (
        f"{overlay}: one namespace-wide PeerAuthentication with mtls STRICT (network/peerauthentication.yaml)"
    )
    for p in find(overlay, "PeerAuthentication"):
        for port, mode in p["spec"].get("portLevelMtls", {}).items():
            assert int(port) not in (5432, 6379, 9092, 8000) or "cnpg.io/cluster" in p["spec"]["selector"].get(
                "matchLabels", {}
            ), f"{overlay}: PeerAuthentication {p['metadata']['name']} relaxes data port {port} to {mode['mode']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingress_terminates_tls_with_rate_limits(find: Find, overlay: str) -> None:
    ingresses = {i["metadata"]["name"]: i for i in find(overlay, "Ingress")}
    main, stream = ingresses["its-api"], ingresses["its-api-stream"]
    ann = main["metadata"]["annotations"]
    assert ann["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    for key in ("limit-rps", "limit-burst-multiplier", "limit-connections"):
        assert f"nginx.ingress.kubernetes.io/{key}" in ann, f"{overlay}: Ingress its-api lacks {key}"
    assert main["spec"]["ingressClassName"] == "nginx" and main["spec"]["tls"][0]["secretName"] == "its-api-tls"
    assert stream["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert stream["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/v1/stream"
    hosts = {r["host"] for i in ingresses.values() for r in i["spec"]["rules"]}
    assert len(hosts) == 1, f"{overlay}: the two Ingresses must share one host, got {hosts}"
    for i in ingresses.values():
        backend = i["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": "its-api", "port": {"number": 8000}}
        vhost = i["metadata"]["annotations"]["nginx.ingress.kubernetes.io/upstream-vhost"]
        assert vhost == f"its-api.{NAMESPACES[overlay]}.svc.cluster.local", f"{overlay}: Ingress upstream-vhost"
