"""The Redis Sentinel labeller (deploy/k8s/base/data/redis.yaml, redis-labeler.py) against a real redis-server and
redis-sentinel on loopback: it reads the master from Sentinel's RESP reply and relabels exactly the pods whose
redis-role is wrong. The Kubernetes API is the one thing we cannot run here: a recorder of the calls stands in for
it (fake_kubernetes_api)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.kube.conftest import Manifests

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _labeler(rendered: dict[str, Manifests], env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    (cm,) = [d for d in rendered["prod"] if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "its-redis-config"]
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    module: dict[str, Any] = {"__name__": "redis_labeler"}
    exec(compile(cm["data"]["redis-labeler.py"], "redis-labeler.py", "exec"), module)
    return module


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{REDIS} exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A redis-server and a redis-sentinel monitoring it as `its-redis`: (redis port, sentinel port)."""
    rport, sport = _free_port(), _free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sport}\nbind 127.0.0.1\ndir {tmp_path}\nsentinel monitor its-redis 127.0.0.1 {rport} 1\n"
        "sentinel down-after-milliseconds its-redis 5000\n"
    )
    procs = [
        subprocess.Popen(
            [REDIS, "--port", str(rport), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    procs.append(
        subprocess.Popen([REDIS, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    )
    try:
        _wait_port(rport, procs[0])
        _wait_port(sport, procs[1])
        yield rport, sport
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def test_reads_the_master_from_a_real_sentinel(
    sentinel: tuple[int, int], rendered: dict[str, Manifests], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sport = sentinel
    lab = _labeler(rendered, {"SENTINEL_PORT": str(sport)}, monkeypatch)
    assert lab["sentinel_master"]() == "127.0.0.1"
    unknown = _labeler(rendered, {"SENTINEL_PORT": str(sport), "SENTINEL_MASTER_NAME": "nobody"}, monkeypatch)
    assert unknown["sentinel_master"]() is None


def test_relabels_only_the_pods_whose_role_is_wrong_fake_kubernetes_api(
    rendered: dict[str, Manifests], monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = _labeler(rendered, {}, monkeypatch)
    pods = {
        "its-redis-0": {"redis-role": "master"},  # the old master: must become a replica
        "its-redis-1": {"redis-role": "replica"},  # the new master
        "its-redis-2": {"redis-role": "replica"},  # already right: untouched
    }
    calls: list[tuple[str, str, Any]] = []

    def fake_kubernetes_api(method: str, path: str, body: Any = None) -> Any:
        calls.append((method, path, body))
        if method == "GET":  # one pod by name: the Role grants get on these names, never list
            assert "?" not in path, f"the labeller lists pods ({path}): its Role allows get by name only"
            name = path.rsplit("/", 1)[1]
            return {"metadata": {"name": name, "labels": pods[name]}}
        return {}

    changed = lab["relabel"](
        "its-redis-1.its-redis-headless.its-camera-ai.svc.cluster.local", "its-camera-ai", fake_kubernetes_api
    )
    assert changed == {"its-redis-0": "replica", "its-redis-1": "master"}
    gets = [p for m, p, _ in calls if m == "GET"]
    assert gets == [f"/api/v1/namespaces/its-camera-ai/pods/{n}" for n in pods]
    patches = [(p, b) for m, p, b in calls if m == "PATCH"]
    assert patches == [
        ("/api/v1/namespaces/its-camera-ai/pods/its-redis-0", {"metadata": {"labels": {"redis-role": "replica"}}}),
        ("/api/v1/namespaces/its-camera-ai/pods/its-redis-1", {"metadata": {"labels": {"redis-role": "master"}}}),
    ]


def test_a_missing_pod_is_skipped(rendered: dict[str, Manifests], monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import urllib.error

    lab = _labeler(rendered, {"REDIS_PODS": "its-redis-0,its-redis-1"}, monkeypatch)

    def fake_kubernetes_api(method: str, path: str, body: Any = None) -> Any:
        if path.endswith("its-redis-1") and method == "GET":
            raise urllib.error.HTTPError(path, 404, "Not Found", {}, io.BytesIO())  # type: ignore[arg-type]
        return {"metadata": {"name": "its-redis-0", "labels": {"redis-role": "master"}}}

    assert lab["relabel"]("its-redis-0.x", "ns", fake_kubernetes_api) == {}


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_the_labeller_may_get_and_patch_only_the_redis_pods(rendered: dict[str, Manifests], overlay: str) -> None:
    """RBAC: get/patch on pods, in its namespace (a Role, no ClusterRole), only the StatefulSet's pods by name."""
    docs = rendered[overlay]
    (redis,) = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "its-redis"]
    names = [f"its-redis-{i}" for i in range(redis["spec"]["replicas"])]
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "its-redis-sentinel"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": names, "verbs": ["get", "patch"]}
    ], f"{overlay}: Role its-redis-sentinel must be get/patch on {names} only"
    bindings = [d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    mine = [b for b in bindings if any(s.get("name") == "its-redis-sentinel" for s in b.get("subjects", []))]
    assert [(b["kind"], b["roleRef"]["kind"], b["roleRef"]["name"]) for b in mine] == [
        ("RoleBinding", "Role", "its-redis-sentinel")
    ]
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    (sentinel,) = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "its-redis-sentinel"]
    (labeler,) = [c for c in sentinel["spec"]["template"]["spec"]["containers"] if c["name"] == "labeler"]
    env = {e["name"]: e.get("value") for e in labeler.get("env", [])}
    assert env["REDIS_PODS"].split(",") == names, f"{overlay}: the labeller's REDIS_PODS must be the Role's names"


def test_an_admission_policy_keeps_the_labeller_to_its_one_label(rendered: dict[str, Manifests]) -> None:
    docs = rendered["cluster-wide"]
    (policy,) = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"]
    (binding,) = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods"]}
    ]
    (cond,) = spec["matchConditions"]
    assert "':its-redis-sentinel'" in cond["expression"] and "request.namespace" in cond["expression"]
    rules = " ".join(v["expression"] for v in spec["validations"])
    for must in ("'redis-role'", "object.spec == oldObject.spec", "annotations", "'master', 'replica'", "'redis'"):
        assert must in rules, f"the policy no longer checks {must}"
