"""Offline validation of rendered manifests: strict schemas (core kinds with those the kubernetes-validate package
bundles, custom resources with kubeconform against ../shared/k8s-crd-schemas), checkov with the project's justified
skips (deploy/kube/checkov.yaml), and `problems()`, which adds Pod Security, the generated KafkaTopics and KafkaUsers
and the egress checks."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.kube.kafkausers import USERS_FILE, render_users
from deploy.kube.netcheck import egress_problems
from deploy.kube.podsecurity import WORKLOAD_KINDS, violations
from deploy.kube.render import CLUSTER_WIDE, TARGETS, render_text
from deploy.kube.tools import KubeToolError, tool
from deploy.kube.topics import TOPICS_FILE, render_topics

__all__ = [
    "CHECKOV_CONFIG",
    "KUBERNETES_VERSION",
    "CheckovResult",
    "checkov",
    "crd_schema_dir",
    "kubeconform",
    "problems",
]

_REPO = Path(__file__).resolve().parents[2]
# The cluster version the manifests are written for; its strict schemas are the ones kubernetes-validate bundles.
KUBERNETES_VERSION = "1.33.0"
CHECKOV_CONFIG = Path(__file__).with_name("checkov.yaml")


def crd_schema_dir() -> Path:
    """../shared/k8s-crd-schemas, or ITS_CRD_SCHEMAS."""
    path = Path(os.environ.get("ITS_CRD_SCHEMAS", _REPO.parent / "shared" / "k8s-crd-schemas"))
    if not (path / "keda.sh").is_dir():
        raise KubeToolError(
            f"the custom resources' JSON schemas are not at {path}: point ITS_CRD_SCHEMAS at shared/k8s-crd-schemas"
        )
    return path


def _crd_schema(crds: Path, doc: dict[str, Any]) -> Path | None:
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    path = crds / group / f"{str(doc.get('kind', '')).lower()}_{version}.json"
    return path if group and path.is_file() else None


def kubeconform(manifests: str) -> list[str]:
    """Validate a YAML stream strictly: unknown fields are errors and so is a kind without a schema.

    Custom resources go through kubeconform against ../shared/k8s-crd-schemas. Core kinds go through the
    kubernetes-validate package's strict schemas for Kubernetes KUBERNETES_VERSION (its schemas' `$ref`s point at
    its own loader's paths, which kubeconform cannot follow). Returns one line per invalid resource."""
    import kubernetes_validate
    import yaml

    crds = crd_schema_dir()
    errors: list[str] = []
    custom: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(manifests):
        if not doc:
            continue
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if _crd_schema(crds, doc) is not None:
            custom.append(doc)
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(
                f"{name}: no schema for {doc.get('apiVersion')} {doc.get('kind')} in Kubernetes {KUBERNETES_VERSION} "
                f"nor in {crds}: fix the apiVersion/kind, or add the custom resource's schema there"
            )
        except kubernetes_validate.ValidationError as e:
            where = "/".join(str(p) for p in e.path)
            errors.append(f"{name}: {where}: {e.message}")
    if custom:
        errors += _kubeconform_custom(yaml.safe_dump_all(custom, sort_keys=False), crds)
    return errors


def _kubeconform_custom(manifests: str, crds: Path) -> list[str]:
    cmd = [
        tool("kubeconform"),
        "-strict",
        "-output",
        "json",
        "-schema-location",
        f"{crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
        "-",
    ]
    proc = subprocess.run(cmd, input=manifests, capture_output=True, text=True, check=False)
    try:
        report = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as e:
        raise KubeToolError(f"kubeconform printed no JSON (exit {proc.returncode}): {proc.stderr.strip()}") from e
    errors = [
        f"{r.get('kind')}/{r.get('name')}: {r.get('msg')}"
        for r in report.get("resources", [])
        if r.get("status") not in ("statusValid", "statusEmpty")
    ]
    if proc.returncode != 0 and not errors:
        errors.append(f"kubeconform exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return errors


@dataclass(frozen=True)
class CheckovResult:
    passed: int
    failed: list[str]
    skipped: list[str]


def _summarise(report: Any) -> CheckovResult:
    reports = report if isinstance(report, list) else [report]
    passed = 0
    failed: list[str] = []
    skipped: list[str] = []
    for rep in reports:
        results = rep.get("results", {})
        passed += len(results.get("passed_checks", []))
        for c in results.get("failed_checks", []):
            failed.append(f"{c['check_id']} {c['check_name']}: {c.get('resource')} ({c.get('file_path')})")
        for c in results.get("skipped_checks", []):
            skipped.append(f"{c['check_id']}: {c.get('resource')}")
    return CheckovResult(passed, failed, skipped)


def checkov(files: dict[str, str] | None = None, *, directory: Path | None = None, framework: str) -> CheckovResult:
    """Run checkov offline (`--skip-download`) with deploy/kube/checkov.yaml on `files` ({name: text}, written to a
    temporary folder) or on `directory`."""
    with tempfile.TemporaryDirectory(prefix="its-checkov-") as tmp:
        target = directory
        if files is not None:
            target = Path(tmp)
            for name, text in files.items():
                (target / name).write_text(text)
        if target is None:
            raise ValueError("checkov needs files or a directory")
        cmd = [
            tool("checkov"),
            "--config-file",
            str(CHECKOV_CONFIG),
            "--framework",
            framework,
            "--skip-download",
            "--output",
            "json",
            "--directory",
            str(target),
        ]
        env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode not in (0, 1):
        raise KubeToolError(f"checkov failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise KubeToolError(f"checkov printed no JSON: {proc.stdout[:500]} {proc.stderr[-1000:]}") from e
    return _summarise(report)


def problems(targets: tuple[str, ...] = TARGETS, *, run_checkov: bool = True) -> list[str]:
    """Every problem in the rendered targets: schemas (strict), Pod Security "restricted" and ours, checkov, whether
    the KafkaTopics and KafkaUsers are those the catalogue and the identities generate, and egress that reaches the
    metadata endpoint or the cluster networks by address (deploy/kube/netcheck.py). Empty when all is well."""
    import yaml

    found: list[str] = []
    if TOPICS_FILE.read_text() != render_topics():
        found.append(f"{TOPICS_FILE} is out of date with schemas/topics.py: run itscam k8s topics --write")
    if USERS_FILE.read_text() != render_users():
        found.append(f"{USERS_FILE} is out of date with eventbus/identities.py: run itscam k8s users --write")
    texts = {t: render_text(t) for t in targets}
    for target, text in texts.items():
        found += [f"[{target}] schema: {e}" for e in kubeconform(text)]
        if target != CLUSTER_WIDE:
            docs = [d for d in yaml.safe_load_all(text) if d]
            found += [f"[{target}] egress: {e}" for e in egress_problems(docs)]
        for doc in yaml.safe_load_all(text):
            if doc and doc.get("kind") in WORKLOAD_KINDS:
                found += [f"[{target}] pod security: {v}" for v in violations(doc)]
    if run_checkov:
        result = checkov({f"{t}.yaml": text for t, text in texts.items()}, framework="kubernetes")
        found += [f"checkov: {f}" for f in result.failed]
    return found
