"""`itscam k8s render|validate|topics` as an operator runs them."""

from __future__ import annotations

import subprocess
import sys

import yaml


def _itscam(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "itscam", "k8s", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_render_prints_the_overlay() -> None:
    out = _itscam("render", "prod")
    assert out.returncode == 0, out.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(out.stdout) if d}
    assert {"Namespace", "Deployment", "ScaledObject", "KafkaTopic", "NetworkPolicy"} <= kinds


def test_validate_passes_and_says_so() -> None:
    out = _itscam("validate", "--no-checkov", "prod", "cluster-wide")
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("prod, cluster-wide: OK")


def test_validate_names_an_unknown_overlay() -> None:
    out = _itscam("validate", "qa")
    assert out.returncode == 2
    assert "unknown overlay qa" in out.stderr and "dev, staging, prod, cluster-wide" in out.stderr


def test_topics_check_is_up_to_date() -> None:
    out = _itscam("topics", "--check")
    assert out.returncode == 0, out.stdout + out.stderr
