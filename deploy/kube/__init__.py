"""Kubernetes deployment tooling: rendering the Kustomize overlays, the offline validators, the topic manifests
generated from the catalogue and the capacity planner."""

from deploy.kube.render import OVERLAYS, K8S_DIR, render, render_text
from deploy.kube.tools import KubeToolError, tool

__all__ = ["K8S_DIR", "OVERLAYS", "KubeToolError", "render", "render_text", "tool"]
