"""Pod Security Standards "restricted" (Kubernetes 1.33), checked offline on rendered workloads, plus our own
stricter rules: a read-only root filesystem, CPU/memory requests and limits, imagePullPolicy Always and a pinned image
tag on every container, and liveness and readiness probes on the containers of long-running workloads.

The admission controller does the same checks in a cluster (the namespace enforces "restricted"); doing them here
finds a violation in CI instead of at `kubectl apply`, for objects that a controller (not us) turns into pods too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["WORKLOAD_KINDS", "pod_spec_of", "violations"]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")

# "restricted" allows only these volume types.
_ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}
# "restricted" lets a container add back only NET_BIND_SERVICE (after dropping ALL).
_ALLOWED_ADD_CAPS = {"NET_BIND_SERVICE"}


def pod_spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The pod spec inside a workload object."""
    kind = obj["kind"]
    spec = obj["spec"]
    if kind == "Pod":
        return dict(spec)
    if kind == "CronJob":
        return dict(spec["jobTemplate"]["spec"]["template"]["spec"])
    return dict(spec["template"]["spec"])


def _containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in pod.get(field) or []:
            yield f"{field}[{c.get('name')}]", c


def violations(obj: Mapping[str, Any], *, long_running: bool | None = None) -> list[str]:
    """Every way `obj` breaks "restricted" or our additions, as 'Kind/name: where: what, fix' lines."""
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    pod = pod_spec_of(obj)
    if long_running is None:
        long_running = obj["kind"] not in ("Job", "CronJob")
    out: list[str] = []

    def bad(where: str, what: str) -> None:
        out.append(f"{name}: {where}: {what}")

    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            bad("spec", f"{host}: true is forbidden; remove it")
    for vol in pod.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= _ALLOWED_VOLUMES:
            bad(
                f"volumes[{vol.get('name')}]",
                f"type {sorted(kinds - _ALLOWED_VOLUMES)} is not allowed; use one of {sorted(_ALLOWED_VOLUMES)}",
            )
    psc = pod.get("securityContext") or {}
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    pod_nonroot = psc.get("runAsNonRoot") is True
    if psc.get("runAsUser") == 0:
        bad("securityContext", "runAsUser 0 is forbidden; run as a non-root UID (10001)")
    for where, c in _containers(pod):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            bad(where, "privileged: true is forbidden")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad(where, "set securityContext.allowPrivilegeEscalation: false")
        if not (pod_nonroot or sc.get("runAsNonRoot") is True) or sc.get("runAsNonRoot") is False:
            bad(where, "set runAsNonRoot: true (pod or container securityContext)")
        if sc.get("runAsUser") == 0:
            bad(where, "runAsUser 0 is forbidden")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in _ALLOWED_SECCOMP:
            bad(where, "set seccompProfile.type: RuntimeDefault (pod or container securityContext)")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            bad(where, "set securityContext.capabilities.drop: [ALL]")
        extra = set(caps.get("add") or []) - _ALLOWED_ADD_CAPS
        if extra:
            bad(where, f"capabilities.add {sorted(extra)} is forbidden")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                bad(where, f"hostPort {port['hostPort']} is forbidden")
        # Ours, beyond "restricted".
        if sc.get("readOnlyRootFilesystem") is not True:
            bad(where, "set securityContext.readOnlyRootFilesystem: true (write to an emptyDir instead)")
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(part) or {}):
                    bad(where, f"set resources.{part}.{r}")
        if long_running and where.startswith("containers"):
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in c:
                    bad(where, f"add a {probe}")
        if c.get("imagePullPolicy") != "Always":
            bad(where, "set imagePullPolicy: Always")
        image = str(c.get("image", ""))
        if (":" not in image.rsplit("/", 1)[-1] and "@" not in image) or image.endswith(":latest"):
            bad(where, f"image {image!r} has no pinned tag; pin a version (never latest)")
    return out
