"""`itscam k8s`: render the overlays, validate them offline, and generate the KafkaTopics from the catalogue."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deploy.kube.podsecurity import WORKLOAD_KINDS, violations
from deploy.kube.render import OVERLAYS, TARGETS, render_text
from deploy.kube.tools import KubeToolError
from deploy.kube.topics import TOPICS_FILE, add_topics_parser, render_topics

__all__ = ["add_parser", "validate"]


def validate(targets: tuple[str, ...] = TARGETS, *, run_checkov: bool = True) -> list[str]:
    """Every problem in the rendered targets: schemas (strict), Pod Security "restricted" and ours, checkov, and
    whether the KafkaTopics are those the catalogue generates. Empty when all is well."""
    import yaml

    from deploy.kube.validate import checkov, kubeconform

    problems: list[str] = []
    if TOPICS_FILE.read_text() != render_topics():
        problems.append(f"{TOPICS_FILE} is out of date with schemas/topics.py: run itscam k8s topics --write")
    texts = {t: render_text(t) for t in targets}
    for target, text in texts.items():
        problems += [f"[{target}] schema: {e}" for e in kubeconform(text)]
        for doc in yaml.safe_load_all(text):
            if doc and doc.get("kind") in WORKLOAD_KINDS:
                problems += [f"[{target}] pod security: {v}" for v in violations(doc)]
    if run_checkov:
        result = checkov({f"{t}.yaml": text for t, text in texts.items()}, framework="kubernetes")
        problems += [f"checkov: {f}" for f in result.failed]
    return problems


def _cmd_render(args: argparse.Namespace) -> int:
    sys.stdout.write(render_text(args.overlay))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    targets = tuple(args.overlay) or TARGETS
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        print(f"error: unknown overlay {', '.join(unknown)}: choose from {', '.join(TARGETS)}", file=sys.stderr)
        return 2
    try:
        problems = validate(targets, run_checkov=not args.no_checkov)
    except KubeToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    print(f"{', '.join(targets)}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def add_parser(sub: Any) -> None:
    """Add the `k8s` command group."""
    k8s = sub.add_parser(
        "k8s",
        help="Kubernetes: render and validate deploy/k8s offline, generate the KafkaTopics.",
        description="Render the Kustomize overlays, validate them offline (strict schemas, Pod Security "
        '"restricted", checkov) and generate parts of deploy/k8s from the code.',
    )
    k8s_sub = k8s.add_subparsers(dest="k8s_command", required=True, metavar="K8S_COMMAND")
    rp = k8s_sub.add_parser("render", help="Print an overlay's manifests (kustomize build).")
    rp.add_argument("overlay", choices=TARGETS, help="dev, staging, prod, or cluster-wide (StorageClasses etc.).")
    rp.set_defaults(fn=_cmd_render)
    vp = k8s_sub.add_parser(
        "validate",
        help="Validate overlays offline; exit 1 on any problem.",
        description="Strict schema validation (Kubernetes and ../shared/k8s-crd-schemas), Pod Security restricted "
        "plus read-only root filesystems and resources, checkov with deploy/kube/checkov.yaml, and the generated "
        f"KafkaTopics. Overlays: {', '.join(OVERLAYS)} and cluster-wide (all by default).",
    )
    vp.add_argument("overlay", nargs="*", help=f"Targets to validate: {', '.join(TARGETS)} (default: all).")
    vp.add_argument("--no-checkov", action="store_true", help="Skip checkov (the slowest part, ~30 s).")
    vp.set_defaults(fn=_cmd_validate)
    add_topics_parser(k8s_sub)
