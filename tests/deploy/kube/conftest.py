"""Rendered overlays for the offline Kubernetes tests: `kustomize build` runs once per overlay per session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deploy.kube import TARGETS, render

Manifests = list[dict[str, Any]]


@pytest.fixture(scope="session")
def rendered() -> dict[str, Manifests]:
    """Every overlay's manifests: {"dev": [...], "staging": [...], "prod": [...], "cluster-wide": [...]}."""
    return {target: render(target) for target in TARGETS}


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
