"""Render the Kustomize overlays of deploy/k8s into manifests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from deploy.kube.tools import KubeToolError, tool

__all__ = ["CLUSTER_WIDE", "K8S_DIR", "OVERLAYS", "TARGETS", "render", "render_text"]

K8S_DIR = Path(__file__).resolve().parents[1] / "k8s"
OVERLAYS = ("dev", "staging", "prod")
# The cluster-scoped objects every environment shares (StorageClasses, the ClusterIssuer), applied once per cluster.
CLUSTER_WIDE = "cluster-wide"
TARGETS = (*OVERLAYS, CLUSTER_WIDE)


def render_text(overlay: str) -> str:
    """`kustomize build deploy/k8s/overlays/<overlay>` (or deploy/k8s/cluster-wide): manifests as one YAML stream."""
    if overlay not in TARGETS:
        raise KubeToolError(f"unknown overlay {overlay!r}: expected one of {', '.join(TARGETS)}")
    path = K8S_DIR / CLUSTER_WIDE if overlay == CLUSTER_WIDE else K8S_DIR / "overlays" / overlay
    proc = subprocess.run(
        [tool("kustomize"), "build", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise KubeToolError(f"kustomize build of overlay {overlay!r} failed: {proc.stderr.strip()}")
    return proc.stdout


def render(overlay: str) -> list[dict[str, Any]]:
    """The overlay's manifests as a list of objects."""
    return [doc for doc in yaml.safe_load_all(render_text(overlay)) if doc]
