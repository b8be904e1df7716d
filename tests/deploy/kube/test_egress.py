"""Egress boundaries of every rendered overlay: no pod can reach the cloud metadata endpoint (169.254.169.254,
fd00:ec2::254) or anything link-local, no address block lets a pod into the pod/service networks, and ingest
reaches cameras only on the camera networks (the overlay's list) and camera ports, besides Kafka and DNS.

The checker (deploy/kube/netcheck.py, also run by `itscam k8s validate`) walks every NetworkPolicy; the mutation
cases below show that it catches each way of opening the metadata endpoint."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from deploy.kube import OVERLAYS
from deploy.kube.netcheck import cluster_cidrs, egress_problems
from tests.deploy.kube.conftest import Manifests

Find = Callable[..., Manifests]
CAMERA_PORTS = {554, 8554, 80, 443, 8080}
METADATA_V4 = ipaddress.ip_address("169.254.169.254")


def _config(find: Find, overlay: str, prefix: str) -> dict[str, str]:
    (cm,) = [c for c in find(overlay, "ConfigMap") if c["metadata"]["name"].startswith(prefix)]
    return {k: str(v) for k, v in cm.get("data", {}).items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_pod_can_reach_the_metadata_endpoint(rendered: dict[str, Manifests], overlay: str) -> None:
    problems = egress_problems(rendered[overlay])
    assert not problems, f"{overlay}:\n" + "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_wide_block_excepts_metadata_and_the_cluster_networks(find: Find, overlay: str) -> None:
    """Spelled out: each ipBlock holding 169.254.169.254 excepts it, and each one overlapping the cluster networks
    excepts them; at least one such wide block exists (so the check is not vacuous)."""
    cluster = cluster_cidrs(find(overlay, "ConfigMap"))
    assert cluster, f"{overlay}: ITS_SOURCE_CLUSTER_CIDRS is not set in the ingest ConfigMap"
    wide = 0
    for p in find(overlay, "NetworkPolicy"):
        for rule in p["spec"].get("egress") or []:
            for peer in rule.get("to") or []:
                block = peer.get("ipBlock")
                if not block:
                    continue
                net = ipaddress.ip_network(block["cidr"])
                excepts = [ipaddress.ip_network(e) for e in block.get("except", [])]
                if net.version == 4 and METADATA_V4 in net:
                    wide += 1
                    assert any(METADATA_V4 in e for e in excepts if e.version == 4), (
                        f"{overlay}: NetworkPolicy {p['metadata']['name']} {net} does not except {METADATA_V4}"
                    )
                for c in cluster:
                    if c.version == net.version and c.overlaps(net):
                        assert any(c.subnet_of(e) for e in excepts if e.version == c.version), (  # type: ignore[arg-type]
                            f"{overlay}: NetworkPolicy {p['metadata']['name']} {net} does not except {c}"
                        )
    assert wide, f"{overlay}: no 0.0.0.0/0-style egress found: is the check still looking at the right rules?"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_source_policy_refuses_the_networks_the_policies_except(find: Find, overlay: str) -> None:
    ingest, api = _config(find, overlay, "its-ingest-config"), _config(find, overlay, "its-api-config")
    assert ingest["ITS_SOURCE_CLUSTER_CIDRS"] == api["ITS_SOURCE_CLUSTER_CIDRS"], (
        f"{overlay}: the API and ingest must refuse the same cluster networks (ITS_SOURCE_CLUSTER_CIDRS)"
    )
    for cfg in (ingest, api):
        for flag in ("ITS_SOURCE_ALLOW_FILES", "ITS_SOURCE_ALLOW_LOOPBACK"):
            assert cfg.get(flag, "false").lower() == "false", f"{overlay}: {flag} must stay unset (false)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingest_reaches_camera_networks_on_camera_ports_only(find: Find, overlay: str) -> None:
    (policy,) = find(overlay, "NetworkPolicy", "allow-ingest-to-cameras")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "ingest"}}
    for rule in policy["spec"]["egress"]:
        ports = {p["port"] for p in rule["ports"]}
        assert ports <= CAMERA_PORTS, f"{overlay}: ingest camera rule opens {ports - CAMERA_PORTS}"
        for peer in rule["to"]:
            assert set(peer) == {"ipBlock"}, f"{overlay}: ingest camera peers are address blocks only"
            net = ipaddress.ip_network(peer["ipBlock"]["cidr"])
            assert net.prefixlen > 0 or peer["ipBlock"].get("except"), f"{overlay}: {net} without except"
    # Every other egress of ingest: DNS, istiod and Kafka, by pod selector (no address blocks).
    ingest_labels = {"app.kubernetes.io/name": "ingest", "app.kubernetes.io/component": "ingest"}
    for p in find(overlay, "NetworkPolicy"):
        if p["metadata"]["name"] == "allow-ingest-to-cameras" or "Egress" not in p["spec"].get("policyTypes", []):
            continue
        sel = p["spec"]["podSelector"]
        labels_match = all(ingest_labels.get(k) == v for k, v in sel.get("matchLabels", {}).items())
        exprs_match = all(
            e["operator"] == "In" and ingest_labels.get(e["key"]) in e["values"]
            for e in sel.get("matchExpressions", [])
        )
        if not (labels_match and exprs_match):
            continue
        for rule in p["spec"].get("egress") or []:
            assert all("ipBlock" not in peer for peer in rule.get("to", [])), (
                f"{overlay}: NetworkPolicy {p['metadata']['name']} gives ingest an address block: only "
                "allow-ingest-to-cameras may"
            )


def _policy(egress: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "NetworkPolicy",
        "metadata": {"name": "mutant", "namespace": "ns"},
        "spec": {"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Egress"], "egress": egress},
    }


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        ([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}], "169.254.169.254"),
        ([{"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}]}], "169.254.169.254"),
        ([{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"port": 80}]}], "169.254.169.254"),
        ([{"to": [{"ipBlock": {"cidr": "::/0"}}]}], "fd00:ec2::254"),
        ([{"ports": [{"port": 443}]}], "every destination"),
        ([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}], "link-local"),
        (
            [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]}],
            "overlaps the cluster network",
        ),
    ],
)
def test_the_checker_catches_each_opening(rendered: dict[str, Manifests], egress: list[Any], expected: str) -> None:
    manifests = [*copy.deepcopy(rendered["prod"]), _policy(egress)]
    problems = [p for p in egress_problems(manifests) if "mutant" in p or "every destination" in p]
    assert any(expected in p for p in problems), f"{egress} should be reported ({expected}); got {problems}"


def test_the_checker_wants_a_namespace_wide_egress_deny(rendered: dict[str, Manifests]) -> None:
    manifests = [d for d in copy.deepcopy(rendered["prod"]) if d["metadata"].get("name") != "default-deny-all"]
    manifests = [
        d
        for d in manifests
        if not (d.get("kind") == "NetworkPolicy" and d["spec"].get("podSelector") == {} and not d["spec"].get("egress"))
    ]
    # allow-dns-egress and allow-istiod-egress still select every pod for Egress, so remove them too
    manifests = [d for d in manifests if not (d.get("kind") == "NetworkPolicy" and d["spec"].get("podSelector") == {})]
    assert any("may send anywhere" in p for p in egress_problems(manifests))
