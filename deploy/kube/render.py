"""Render the Kustomize overlays of deploy/k8s into manifests."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from deploy.kube.tools import KubeToolError, tool

__all__ = ["K8S_DIR", "OVERLAYS", "render", "render_text"]

K8S_DIR = Path(__file__).resolve().parents[1] / "k8s"
OVERLAYS = ("dev", "staging", "prod")


def render_text(overlay: str) -> str:
    """`kustomize build deploy/k8s/overlays/<overlay>`: the overlay's manifests as one YAML stream."""
    if overlay not in OVERLAYS:
        raise KubeToolError(f"unknown overlay {overlay!r}: expected one of {', '.join(OVERLAYS)}")
    proc = subprocess.run(
        [tool("kustomize"), "build", str(K8S_DIR / "overlays" / overlay)],
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
