"""Rendered overlays for the offline Kubernetes tests: `kustomize build` runs once per overlay per session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deploy.kube import OVERLAYS, render

Manifests = list[dict[str, Any]]


@pytest.fixture(scope="session")
def rendered() -> dict[str, Manifests]:
    """Every overlay's manifests: {"dev": [...], "staging": [...], "prod": [...]}."""
    return {overlay: render(overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def find(rendered: dict[str, Manifests]) -> Callable[..., Manifests]:
    """find(overlay, kind, name=None): the overlay's objects of that kind (and name)."""

    def _find(overlay: str, kind: str, name: str | None = None) -> Manifests:
        return [
            d
            for d in rendered[overlay]
            if d.get("kind") == kind and (name is None or d.get("metadata", {}).get("name") == name)
        ]

    return _find


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod spec of a workload object (a CronJob's is two templates down)."""
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        return dict(spec["jobTemplate"]["spec"]["template"]["spec"])
    return dict(spec["template"]["spec"])
