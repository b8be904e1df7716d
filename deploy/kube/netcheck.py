"""Egress checks of rendered NetworkPolicies: no pod can reach the cloud metadata endpoint (or anything link-local),
and no address block wide enough to hold the cluster's pod/service networks lets a pod into them by address.

Semantics (networking.k8s.io/v1): a pod selected by no Egress policy may send anywhere, so the namespace must have
a default-deny policy (podSelector {}, Egress). An egress rule without `to` allows every destination; a peer with a
pod or namespace selector matches pods only (the metadata endpoint is not a pod); an `ipBlock` matches its `cidr`
minus its `except` blocks. The cluster networks are the ingest ConfigMap's ITS_SOURCE_CLUSTER_CIDRS (the same
value the source policy refuses), so there is one place to set them per deployment.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

__all__ = ["LINK_LOCAL", "METADATA", "cluster_cidrs", "egress_problems"]

Net = ipaddress.IPv4Network | ipaddress.IPv6Network

# The instance metadata endpoints (AWS IMDS, GCP, Azure: 169.254.169.254; AWS IMDS over IPv6: fd00:ec2::254).
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
# Link-local: the metadata endpoint and its neighbours (EKS Pod Identity 169.254.170.23, ECS task metadata ...).
LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
INGEST_CONFIG_PREFIX = "its-ingest-config"
CLUSTER_CIDRS_ENV = "ITS_SOURCE_CLUSTER_CIDRS"


def cluster_cidrs(manifests: Iterable[dict[str, Any]]) -> list[Net]:
    """ITS_SOURCE_CLUSTER_CIDRS of the rendered ingest ConfigMap (its-ingest-config-<hash>): the pod and service
    networks."""
    for doc in manifests:
        name = str(doc.get("metadata", {}).get("name", ""))
        if doc.get("kind") == "ConfigMap" and name.startswith(INGEST_CONFIG_PREFIX):
            value = str(doc.get("data", {}).get(CLUSTER_CIDRS_ENV, ""))
            return [ipaddress.ip_network(v.strip(), strict=False) for v in value.split(",") if v.strip()]
    return []


def _policy_types(spec: dict[str, Any]) -> list[str]:
    if "policyTypes" in spec:
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]


def _excepts(block: dict[str, Any]) -> list[Net]:
    return [ipaddress.ip_network(e, strict=False) for e in block.get("except", [])]


def egress_problems(manifests: list[dict[str, Any]]) -> list[str]:
    """Every way a rendered overlay lets a pod reach a metadata endpoint or link-local addresses, or reach the
    cluster networks through an address block. Empty when none."""
    policies = [d for d in manifests if d.get("kind") == "NetworkPolicy"]
    namespaces = {d.get("metadata", {}).get("namespace") for d in manifests if d.get("kind") in _WORKLOADS}
    found: list[str] = []
    for ns in sorted(n for n in namespaces if n):
        deny = [
            p
            for p in policies
            if p.get("metadata", {}).get("namespace") == ns
            and p["spec"].get("podSelector") == {}
            and "Egress" in _policy_types(p["spec"])
        ]
        if not deny:
            found.append(f"namespace {ns}: no policy selects every pod for Egress: pods it misses may send anywhere")
    cluster = cluster_cidrs(manifests)
    if not cluster:
        found.append(f"the ingest ConfigMap sets no {CLUSTER_CIDRS_ENV}: the pod/service networks are unknown")
    for p in policies:
        spec, name = p["spec"], p["metadata"]["name"]
        if "Egress" not in _policy_types(spec):
            continue
        for i, rule in enumerate(spec.get("egress") or []):
            where = f"NetworkPolicy {name} egress[{i}]"
            peers = rule.get("to") or []
            if not peers:
                found.append(f"{where}: no `to`: every destination, the metadata endpoint {METADATA[0]} included")
                continue
            for peer in peers:
                if "ipBlock" in peer:
                    found += _block_problems(where, peer["ipBlock"], cluster)
    return found


def _span(n: Net) -> tuple[int, int, int]:
    return n.version, int(n.network_address), int(n.broadcast_address)


def _within(inner: Net, outer: Net) -> bool:
    """`inner` lies entirely in `outer` (False across IP versions)."""
    (vi, lo_i, hi_i), (vo, lo_o, hi_o) = _span(inner), _span(outer)
    return vi == vo and lo_o <= lo_i and hi_i <= hi_o


def _overlap(a: Net, b: Net) -> bool:
    (va, lo_a, hi_a), (vb, lo_b, hi_b) = _span(a), _span(b)
    return va == vb and lo_a <= hi_b and lo_b <= hi_a


def _block_problems(where: str, block: dict[str, Any], cluster: list[Net]) -> list[str]:
    net = ipaddress.ip_network(block["cidr"], strict=False)
    excepts = _excepts(block)
    out: list[str] = []
    for ip in METADATA:
        host = ipaddress.ip_network(ip)
        if _within(host, net) and not any(_within(host, e) for e in excepts):
            out.append(f"{where}: ipBlock {net} lets pods reach the metadata endpoint {ip}: except link-local")
    for ll in LINK_LOCAL:
        if _overlap(ll, net) and not any(_within(ll, e) or _within(net, e) for e in excepts):
            out.append(f"{where}: ipBlock {net} reaches into the link-local range {ll}: add {ll} to except")
    for c in cluster:
        if _overlap(c, net) and not any(_within(c, e) or _within(net, e) for e in excepts):
            out.append(f"{where}: ipBlock {net} overlaps the cluster network {c}: add {c} to except")
    return out


_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
