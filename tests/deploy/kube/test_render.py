"""Every overlay renders with kustomize and validates strictly, core kinds and custom resources alike."""

from __future__ import annotations

import pytest

from deploy.kube import CLUSTER_WIDE, OVERLAYS, TARGETS, render_text
from deploy.kube.validate import kubeconform
from tests.deploy.kube.conftest import Manifests

CLUSTER_SCOPED = {"Namespace", "StorageClass", "ClusterIssuer", "ClusterRole", "ClusterRoleBinding", "PriorityClass"}
NAMESPACES = {"prod": "its-camera-ai", "staging": "its-camera-ai-staging", "dev": "its-camera-ai-dev"}


@pytest.mark.parametrize("overlay", TARGETS)
def test_overlay_validates_strictly(overlay: str) -> None:
    errors = kubeconform(render_text(overlay))
    assert not errors, f"overlay {overlay} has invalid objects:\n" + "\n".join(errors)


def test_validation_catches_an_unknown_field_and_an_unknown_kind() -> None:
    bad_core = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndataz: {a: b}\n"
    bad_custom = (
        "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\n"
        "spec: {scaleTargetRef: {name: x}, triggers: [], maxReplicas: 3}\n"
    )
    unknown = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n"
    assert any("dataz" in e for e in kubeconform(bad_core))
    assert any("maxReplicas" in e for e in kubeconform(bad_custom))
    assert any("no schema" in e for e in kubeconform(unknown))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_owns_its_namespace(overlay: str, rendered: dict[str, Manifests]) -> None:
    ns = NAMESPACES[overlay]
    namespaces = [d["metadata"]["name"] for d in rendered[overlay] if d["kind"] == "Namespace"]
    assert namespaces == [ns], f"overlay {overlay} should create exactly namespace {ns}, found {namespaces}"
    cluster_scoped = {
        "Namespace",
        "StorageClass",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "PriorityClass",
    }
    for d in rendered[overlay]:
        if d["kind"] in cluster_scoped:
            continue
        got = d["metadata"].get("namespace")
        assert got == ns, f"{d['kind']}/{d['metadata']['name']} in overlay {overlay} is in namespace {got}, not {ns}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_names_are_unique(overlay: str, rendered: dict[str, Manifests]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for d in rendered[overlay]:
        key = (d["apiVersion"].split("/")[0], d["kind"], d["metadata"]["name"])
        assert key not in seen, f"{key} is rendered twice in overlay {overlay}"
        seen.add(key)


def test_cluster_wide_objects_have_no_namespace(rendered: dict[str, Manifests]) -> None:
    objs = rendered[CLUSTER_WIDE]
    assert {d["kind"] for d in objs} == {
        "StorageClass",
        "ClusterIssuer",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    for d in objs:
        assert "namespace" not in d["metadata"], f"{d['kind']}/{d['metadata']['name']} is cluster-scoped"
