"""`itscam k8s render|validate|topics|users`: the Kubernetes overlays rendered and validated offline, the KafkaTopics
generated from the catalogue and the KafkaUsers from the Kafka identities (deploy/kube)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from deploy.kube.kafkausers import USERS, USERS_FILE, render_users
from deploy.kube.render import OVERLAYS, TARGETS, render_text
from deploy.kube.tools import KubeToolError
from deploy.kube.topics import MIN_INSYNC_REPLICAS, TOPICS_FILE, render_topics
from deploy.kube.validate import problems
from schemas.topics import CATALOGUE

__all__ = ["add_parser"]


def _generated(args: argparse.Namespace, what: str, path: Path, text: str, source: str, count: str) -> int:
    """Print a generated manifest, --write it, or --check that the committed file matches its source."""
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            print(
                f"itscam k8s {what}: {path} differs from {source}: run `itscam k8s {what} --write` and commit "
                "the file.",
                file=sys.stderr,
            )
            return 1
        print(f"{path}: up to date ({count})")
        return 0
    if args.write:
        path.write_text(text)
        print(f"wrote {path} ({count})")
        return 0
    sys.stdout.write(text)
    return 0


def _cmd_topics(args: argparse.Namespace) -> int:
    n = f"{len(CATALOGUE)} KafkaTopics"
    return _generated(args, "topics", TOPICS_FILE, render_topics(), "the topic catalogue (schemas/topics.py)", n)


def _cmd_users(args: argparse.Namespace) -> int:
    n = f"{len(USERS)} KafkaUsers"
    return _generated(args, "users", USERS_FILE, render_users(), "the Kafka identities (eventbus/identities.py)", n)


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
        found = problems(targets, run_checkov=not args.no_checkov)
    except KubeToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in found:
        print(p)
    print(f"{', '.join(targets)}: {'OK' if not found else f'{len(found)} problem(s)'}")
    return 1 if found else 0


def add_parser(sub: Any) -> None:
    """Add the `k8s` command group."""
    k8s = sub.add_parser(
        "k8s",
        help="Kubernetes: render and validate deploy/k8s offline, generate the KafkaTopics.",
        description="Render the Kustomize overlays, validate them offline (strict schemas, Pod Security "
        '"restricted", checkov, egress) and generate parts of deploy/k8s from the code (KafkaTopics, KafkaUsers).',
    )
    k8s_sub = k8s.add_subparsers(dest="k8s_command", required=True, metavar="K8S_COMMAND")
    rp = k8s_sub.add_parser("render", help="Print an overlay's manifests (kustomize build).")
    rp.add_argument("overlay", choices=TARGETS, help="dev, staging, prod, or cluster-wide (StorageClasses etc.).")
    rp.set_defaults(fn=_cmd_render)
    vp = k8s_sub.add_parser(
        "validate",
        help="Validate overlays offline; exit 1 on any problem.",
        description="Strict schema validation (Kubernetes and ../shared/k8s-crd-schemas), Pod Security restricted "
        "plus ours (read-only root filesystems, resources, pinned image tags pulled Always, probes on long-running "
        "workloads), checkov with deploy/kube/checkov.yaml, and the generated "
        f"KafkaTopics. Overlays: {', '.join(OVERLAYS)} and cluster-wide (all by default).",
    )
    vp.add_argument("overlay", nargs="*", help=f"Targets to validate: {', '.join(TARGETS)} (default: all).")
    vp.add_argument("--no-checkov", action="store_true", help="Skip checkov (the slowest part, ~30 s).")
    vp.set_defaults(fn=_cmd_validate)
    _add_topics_parser(k8s_sub)
    _add_users_parser(k8s_sub)


def _add_topics_parser(k8s_sub: Any) -> None:
    """Add `itscam k8s topics [--write|--check]` to the `k8s` group."""
    tp = k8s_sub.add_parser(
        "topics",
        help="Print, write or check the Strimzi KafkaTopics generated from the topic catalogue.",
        description="Without flags: print one KafkaTopic per topic of schemas/topics.py (cluster partitions and "
        f"replication, min.insync.replicas {MIN_INSYNC_REPLICAS}). --write: write {TOPICS_FILE.name} in "
        "deploy/k8s/base/data. --check: exit 1 when that file differs from the catalogue.",
    )
    mode = tp.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="Write deploy/k8s/base/data/kafka-topics.yaml.")
    mode.add_argument("--check", action="store_true", help="Exit 1 when the committed file is out of date.")
    tp.set_defaults(fn=_cmd_topics)


def _add_users_parser(k8s_sub: Any) -> None:
    """Add `itscam k8s users [--write|--check]` to the `k8s` group."""
    up = k8s_sub.add_parser(
        "users",
        help="Print, write or check the Strimzi KafkaUsers generated from the Kafka identities.",
        description="Without flags: print one KafkaUser (SCRAM-SHA-512, simple authorization) per identity of "
        f"eventbus/identities.py, plus KEDA's lag reader. --write: write {USERS_FILE.name} in deploy/k8s/base/data. "
        "--check: exit 1 when that file differs from the identities.",
    )
    mode = up.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="Write deploy/k8s/base/data/kafka-users.yaml.")
    mode.add_argument("--check", action="store_true", help="Exit 1 when the committed file is out of date.")
    up.set_defaults(fn=_cmd_users)
