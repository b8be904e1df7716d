"""`itscam topics apply|list`: the topic catalogue (schemas/topics.py) on the broker, and the schemas published."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def _cmd(args: argparse.Namespace) -> int:
    from eventbus.admin import apply_topics, publish_schemas
    from eventbus.settings import DeployableSettings
    from schemas.topics import CATALOGUE

    if args.action == "list":
        for t in CATALOGUE:
            print(
                f"{t.name:22} partitions={t.partitions:<3} cleanup={t.cleanup_policy:8} "
                f"retention_ms={t.effective_retention_ms:<11} key={t.key} value={t.value_schema}"
            )
        return 0
    bootstrap = args.bootstrap or DeployableSettings().kafka_bootstrap
    created = apply_topics(bootstrap)
    n = publish_schemas(bootstrap)
    print(f"topics created: {created or 'none (all present)'}; configs applied; {n} schemas published")
    return 0


def add_parser(sub: Any) -> None:
    tp = sub.add_parser(
        "topics",
        help="Create/update topics from the catalogue and publish schemas.",
        description="apply: create missing topics, apply configs, publish every current Avro schema (schemas/avro) "
        "to its.schemas.v1 keyed by fingerprint (idempotent). list: print the catalogue.",
    )
    tp.add_argument("action", choices=["apply", "list"])
    tp.add_argument("--bootstrap", help="Kafka bootstrap servers (ITS_KAFKA_BOOTSTRAP).")
    tp.set_defaults(fn=_cmd)
