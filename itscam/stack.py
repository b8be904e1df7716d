"""`itscam stack up|down|status|logs`: the local Kafka/PostgreSQL/Redis stack (deploy/stack)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser"]


def _cmd(args: argparse.Namespace) -> int:
    from deploy.stack import StackSettings, services

    s = StackSettings()
    if getattr(args, "secure", False):
        s = s.model_copy(update={"kafka_secure": True})
    svcs = services(s)
    if args.service and args.action != "logs":
        svcs = [svc for svc in svcs if svc.name == args.service]
    if args.action == "up":
        for svc in svcs:
            svc.up()
            print(f"{svc.name:9} {svc.status()}")
        print(f"data and logs: {s.home}")
        from deploy.stack.seal import ensure_seal_keys

        private, public = ensure_seal_keys(s)
        print(f"camera credential sealing: ITS_CAMERA_SEAL_PUBLIC_KEY={public} ITS_INGEST_SEAL_PRIVATE_KEY={private}")
        if s.kafka_secure or (s.home / "kafka" / "secure").exists():
            print(f"Kafka identities (ITS_KAFKA_* settings per deployable): {s.home / 'secrets' / 'kafka'}/<name>.env")
    elif args.action == "down":
        for svc in reversed(svcs):
            svc.down()
            print(f"{svc.name:9} {svc.status()}")
    elif args.action == "status":
        states = [(svc.name, svc.status()) for svc in svcs]
        for name, st in states:
            print(f"{name:9} {st}")
        return 0 if all(st.startswith("running") for _, st in states) else 3
    elif args.action == "logs":
        for svc in svcs:
            if args.service and svc.name != args.service:
                continue
            print(f"==> {svc.log} <==")
            if svc.log.exists():
                lines = svc.log.read_text(errors="replace").splitlines()
                print("\n".join(lines[-args.lines :]))
    return 0


def add_parser(sub: Any) -> None:
    st = sub.add_parser(
        "stack",
        help="Run the local Kafka/PostgreSQL/Redis stack.",
        description="Install (if missing) and run Kafka (KRaft), PostgreSQL and Redis on loopback; "
        "data and logs under .stack/ (ITS_STACK_HOME). Ports: ITS_STACK_KAFKA_PORT (19092), "
        "ITS_STACK_PG_PORT (15432), ITS_STACK_REDIS_PORT (16379).",
    )
    st.add_argument(
        "action",
        choices=["up", "down", "status", "logs"],
        help="up is idempotent; status exits 3 unless every service runs.",
    )
    st.add_argument(
        "service", nargs="?", choices=["kafka", "postgres", "redis"], help="Only this service (every action)."
    )
    st.add_argument(
        "--secure",
        action="store_true",
        help="up: Kafka with SCRAM-SHA-512 identities and least-privilege ACLs (eventbus/identities.py), no "
        "anonymous listener; each deployable's ITS_KAFKA_* settings go to <home>/secrets/kafka/<name>.env (0600). "
        "Run a second, secure broker beside the plain one with its own ITS_STACK_HOME and ITS_STACK_KAFKA_PORT / "
        "ITS_STACK_KAFKA_CONTROLLER_PORT (ITS_STACK_KAFKA_LIBS reuses the jars).",
    )
    st.add_argument("-n", "--lines", type=int, default=50, help="logs: lines per service (50).")
    st.set_defaults(fn=_cmd)
