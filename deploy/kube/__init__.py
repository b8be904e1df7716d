"""Kubernetes deployment tooling: rendering the Kustomize overlays, the offline validators, the topic manifests
generated from the catalogue and the capacity planner."""

from deploy.kube.render import CLUSTER_WIDE, K8S_DIR, OVERLAYS, TARGETS, render, render_text
from deploy.kube.tools import KubeToolError, tool

__all__ = ["CLUSTER_WIDE", "K8S_DIR", "OVERLAYS", "TARGETS", "KubeToolError", "render", "render_text", "tool"]
