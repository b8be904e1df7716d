"""Pod Security Standards "restricted" (plus a read-only root filesystem and resources) on every rendered workload,
and checkov with zero failures on the overlays and the Dockerfiles; every skipped check has its reason."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from deploy.kube import OVERLAYS, render_text
from deploy.kube.podsecurity import WORKLOAD_KINDS, violations
from deploy.kube.validate import CHECKOV_CONFIG, checkov
from tests.deploy.kube.conftest import Manifests

_GOOD: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "good"},
    "spec": {
        "template": {
            "spec": {
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "volumes": [{"name": "tmp", "emptyDir": {}}],
                "containers": [
                    {
                        "name": "app",
                        "image": "ghcr.io/its-camera-ai/its-camera-ai:0.7.0",
                        "imagePullPolicy": "Always",
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "1", "memory": "256Mi"},
                        },
                        "livenessProbe": {"httpGet": {"path": "/health", "port": 8000}},
                        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8000}},
                    }
                ],
            }
        }
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(_GOOD)
    *parents, last = path.split(".")
    node: Any = obj["spec"]["template"]["spec"]
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    if value is None:
        del node[last]
    else:
        node[last] = value
    return obj


def test_the_reference_pod_passes() -> None:
    assert violations(_GOOD) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("hostNetwork", True, "hostNetwork"),
        ("volumes", [{"name": "h", "hostPath": {"path": "/"}}], "hostPath"),
        ("securityContext.runAsNonRoot", None, "runAsNonRoot"),
        ("securityContext.seccompProfile", {"type": "Unconfined"}, "seccompProfile"),
        ("containers.0.securityContext.allowPrivilegeEscalation", True, "allowPrivilegeEscalation"),
        ("containers.0.securityContext.privileged", True, "privileged"),
        ("containers.0.securityContext.capabilities", {"drop": ["NET_RAW"]}, "drop: [ALL]"),
        ("containers.0.securityContext.capabilities", {"drop": ["ALL"], "add": ["SYS_ADMIN"]}, "SYS_ADMIN"),
        ("containers.0.securityContext.readOnlyRootFilesystem", False, "readOnlyRootFilesystem"),
        ("containers.0.resources", {"requests": {"cpu": "1"}}, "resources.limits.memory"),
        ("containers.0.livenessProbe", None, "livenessProbe"),
        ("containers.0.image", "ghcr.io/its-camera-ai/its-camera-ai:latest", "pinned"),
        ("containers.0.imagePullPolicy", "IfNotPresent", "imagePullPolicy"),
        ("containers.0.ports", [{"containerPort": 80, "hostPort": 80}], "hostPort"),
    ],
)
def test_each_rule_catches_its_violation(path: str, value: Any, expected: str) -> None:
    found = violations(_with(path, value))
    assert any(expected in v for v in found), f"{path}={value!r} should be reported ({expected}); got {found}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_restricted(overlay: str, rendered: dict[str, Manifests]) -> None:
    workloads = [d for d in rendered[overlay] if d["kind"] in WORKLOAD_KINDS]
    assert len(workloads) >= 5, f"overlay {overlay} renders only {len(workloads)} workloads"
    problems = [v for d in workloads for v in violations(d)]
    assert not problems, f"overlay {overlay}:\n" + "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_account_tokens_are_mounted_only_where_used(overlay: str, rendered: dict[str, Manifests]) -> None:
    accounts = {d["metadata"]["name"]: d for d in rendered[overlay] if d["kind"] == "ServiceAccount"}
    bound = {
        s["name"]
        for d in rendered[overlay]
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
        for s in d.get("subjects", [])
        if s.get("kind") == "ServiceAccount"
    }
    for name, sa in accounts.items():
        if name not in bound:
            assert sa.get("automountServiceAccountToken") is False, (
                f"ServiceAccount/{name} in {overlay} has no Role binding, so set automountServiceAccountToken: false"
            )


def _skips() -> list[tuple[str, str]]:
    """(check id, reason) of each skip in deploy/kube/checkov.yaml; the reason is the comment on its line."""
    out = []
    for line in CHECKOV_CONFIG.read_text().splitlines():
        m = re.match(r"\s*-\s*(CKV\w*_\d+)\s*(?:#\s*(.*))?$", line)
        if m:
            out.append((m.group(1), (m.group(2) or "").strip()))
    return out


def test_every_checkov_skip_has_a_reason() -> None:
    for check, reason in _skips():
        assert len(reason) >= 20, f"checkov skip {check} in {CHECKOV_CONFIG} needs a reason in a comment beside it"


def test_checkov_passes_on_every_overlay() -> None:
    result = checkov({f"{o}.yaml": render_text(o) for o in OVERLAYS}, framework="kubernetes")
    assert result.passed > 100, f"checkov ran only {result.passed} checks: did it read the manifests?"
    assert not result.failed, "checkov failures:\n" + "\n".join(result.failed)


def test_checkov_passes_on_the_dockerfiles() -> None:
    from deploy.kube.render import K8S_DIR

    result = checkov(directory=K8S_DIR.parent / "docker", framework="dockerfile")
    assert result.passed > 0, "checkov found no Dockerfile checks to run in deploy/docker"
    assert not result.failed, "checkov failures:\n" + "\n".join(result.failed)
