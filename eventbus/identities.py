"""Kafka identities: one SCRAM user per deployable and the least-privilege ACLs it gets, declared once.

`IDENTITIES` is the table. Two things are built from it and nothing else:

- the local secure stack (`itscam stack up --secure`): `apply_identities` creates each user's SCRAM-SHA-512
  credential and its ACLs on the broker through the Admin API;
- the Kubernetes manifests (Strimzi `KafkaUser`, one per identity): `Identity.strimzi_acls()` gives the
  `spec.authorization.acls` list in Strimzi's shape (resource type/name/patternType, operations in CamelCase).

Shape of one row (`Identity`):
  name         the deployable ("ingest", "inference", "analytics", "projector", "api", "admin");
  username     the Kafka principal's name (`User:<username>`), also the Strimzi KafkaUser name;
  acls         `Acl` rows: resource kind ("topic", "group", "transactional_id", "cluster"), name, pattern
               ("literal" or "prefix") and the allowed operations (Kafka's names: READ, WRITE, DESCRIBE, CREATE,
               DESCRIBE_CONFIGS, IDEMPOTENT_WRITE, ALL);
  superuser    the `admin` identity (topic provisioning, `itscam` operator commands, the local stack's own checks)
               is a super user (`super.users`); it also carries wildcard ALL ACLs so a cluster without super users
               can grant it the same through its ACLs.

Everything is allowed by name, nothing by default (the broker runs with allow.everyone.if.no.acl.found=false):
  ingest     reads the camera registry (group `its-ingest`), writes frames, stills, camera status and dead letters;
  inference  reads frames (group `its-inference`), writes detections and dead letters in transactions whose ids
             start with `its-inference-`;
  analytics  (Faust app `its-analytics`) reads detections, camera status and the registry, writes vehicle events,
             statistics, incidents, movements and dead letters; owns every topic, group and transactional id that
             starts with `its-analytics` (its changelog and assignor topics, which Faust creates: CREATE and
             DESCRIBE_CONFIGS on that prefix);
  projector  reads every topic it projects (groups `its-projector*`: live, replays and watermarks) and writes dead
             letters;
  api        writes camera commands to the registry (nothing else: the read path is PostgreSQL and Redis).
No deployable reads `its.schemas.v1` at run time (schemas.serde resolves fingerprints from the .avsc files baked
into the image); only `admin` writes it (`itscam topics apply`). Every producer is idempotent (IDEMPOTENT_WRITE on
the cluster, implied by topic WRITE since Kafka 3.0 but stated for older brokers and Strimzi).

The group and transactional-id names are the deployables' setting defaults (tests/security check they agree);
a deployment that renames them must rename them here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from schemas.topics import (
    CAMERA_STATUS,
    CAMERAS,
    DETECTIONS,
    DLQ,
    FRAMES,
    INCIDENTS,
    MOVEMENTS,
    SNAPSHOTS,
    TRAFFIC_STATS,
    VEHICLE_EVENTS,
)

__all__ = [
    "ADMIN",
    "IDENTITIES",
    "Acl",
    "Identity",
    "apply_identities",
    "identity",
]

Resource = Literal["topic", "group", "transactional_id", "cluster"]
Pattern = Literal["literal", "prefix"]

# The deployables' default group ids, transactional-id prefixes and Faust app id (their settings' defaults).
INGEST_GROUP = "its-ingest"
INFERENCE_GROUP = "its-inference"
INFERENCE_TXN_PREFIX = "its-inference-"
ANALYTICS_APP_ID = "its-analytics"
PROJECTOR_GROUP = "its-projector"

_READ = ("READ", "DESCRIBE")
_WRITE = ("WRITE", "DESCRIBE")
_GROUP = ("READ", "DESCRIBE")
_TXN = ("WRITE", "DESCRIBE")

_STRIMZI_TYPE = {"topic": "topic", "group": "group", "transactional_id": "transactionalId", "cluster": "cluster"}


@dataclass(frozen=True)
class Acl:
    """Allow `operations` on one resource (by literal name or name prefix), from any host."""

    resource: Resource
    name: str
    operations: tuple[str, ...]
    pattern: Pattern = "literal"

    def strimzi(self) -> dict[str, Any]:
        """This ACL as one entry of a Strimzi KafkaUser's spec.authorization.acls."""
        res: dict[str, Any] = {"type": _STRIMZI_TYPE[self.resource]}
        if self.resource != "cluster":
            res["name"] = self.name
            res["patternType"] = self.pattern
        ops = ["".join(w.capitalize() for w in op.split("_")) for op in self.operations]
        return {"resource": res, "operations": ops, "host": "*"}


@dataclass(frozen=True)
class Identity:
    name: str
    username: str
    acls: tuple[Acl, ...]
    superuser: bool = False

    @property
    def principal(self) -> str:
        return f"User:{self.username}"

    def strimzi_acls(self) -> list[dict[str, Any]]:
        return [a.strimzi() for a in self.acls]

    def topics(self, operation: str) -> set[str]:
        """Literal topic names this identity may `operation` (READ/WRITE/...)."""
        return {
            a.name for a in self.acls if a.resource == "topic" and a.pattern == "literal" and operation in a.operations
        }


def _topics(ops: tuple[str, ...], *names: str) -> tuple[Acl, ...]:
    return tuple(Acl("topic", n, ops) for n in names)


_IDEMPOTENT = Acl("cluster", "kafka-cluster", ("IDEMPOTENT_WRITE",))

INGEST = Identity(
    "ingest",
    "its-ingest",
    (
        *_topics(_READ, CAMERAS.name),
        *_topics(_WRITE, FRAMES.name, SNAPSHOTS.name, CAMERA_STATUS.name, DLQ.name),
        Acl("group", INGEST_GROUP, _GROUP),
        _IDEMPOTENT,
    ),
)
INFERENCE = Identity(
    "inference",
    "its-inference",
    (
        *_topics(_READ, FRAMES.name),
        *_topics(_WRITE, DETECTIONS.name, DLQ.name),
        Acl("group", INFERENCE_GROUP, _GROUP),
        Acl("transactional_id", INFERENCE_TXN_PREFIX, _TXN, "prefix"),
        _IDEMPOTENT,
    ),
)
ANALYTICS = Identity(
    "analytics",
    "its-analytics",
    (
        *_topics(_READ, DETECTIONS.name, CAMERA_STATUS.name, CAMERAS.name),
        *_topics(_WRITE, VEHICLE_EVENTS.name, TRAFFIC_STATS.name, INCIDENTS.name, MOVEMENTS.name, DLQ.name),
        # Faust's internal topics: <app id>-<table>-changelog, <app id>-__assignor-__leader (created by Faust).
        Acl(
            "topic",
            f"{ANALYTICS_APP_ID}-",
            ("READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS"),
            "prefix",
        ),
        # The app's group, and the camera follower's / resume guard's assign-only consumers (its-analytics-*).
        Acl("group", ANALYTICS_APP_ID, _GROUP, "prefix"),
        Acl("transactional_id", f"{ANALYTICS_APP_ID}-", _TXN, "prefix"),
        _IDEMPOTENT,
    ),
)
PROJECTOR = Identity(
    "projector",
    "its-projector",
    (
        *_topics(
            _READ,
            CAMERAS.name,
            CAMERA_STATUS.name,
            DETECTIONS.name,
            VEHICLE_EVENTS.name,
            TRAFFIC_STATS.name,
            INCIDENTS.name,
            MOVEMENTS.name,
            SNAPSHOTS.name,
        ),
        *_topics(_WRITE, DLQ.name),
        # The live group, rebuild replays (its-projector-replay-*) and watermark readers (its-projector-watermarks).
        Acl("group", PROJECTOR_GROUP, _GROUP, "prefix"),
        _IDEMPOTENT,
    ),
)
API = Identity(
    "api",
    "its-api",
    (*_topics(_WRITE, CAMERAS.name), _IDEMPOTENT),
)
ADMIN = Identity(
    "admin",
    "its-admin",
    (
        Acl("cluster", "kafka-cluster", ("ALL",)),
        Acl("topic", "*", ("ALL",)),
        Acl("group", "*", ("ALL",)),
        Acl("transactional_id", "*", ("ALL",)),
    ),
    superuser=True,
)

IDENTITIES: tuple[Identity, ...] = (INGEST, INFERENCE, ANALYTICS, PROJECTOR, API, ADMIN)


def identity(name: str) -> Identity:
    """The identity of a deployable by name (KeyError naming the known ones otherwise)."""
    for i in IDENTITIES:
        if i.name == name:
            return i
    raise KeyError(f"no Kafka identity {name!r}; known: {', '.join(i.name for i in IDENTITIES)}")


def _bindings(ident: Identity) -> list[Any]:
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
    )

    kinds = {
        "topic": ResourceType.TOPIC,
        "group": ResourceType.GROUP,
        "transactional_id": ResourceType.TRANSACTIONAL_ID,
        "cluster": ResourceType.BROKER,
    }
    out = []
    for a in ident.acls:
        pattern = ResourcePatternType.PREFIXED if a.pattern == "prefix" else ResourcePatternType.LITERAL
        for op in a.operations:
            out.append(
                AclBinding(
                    kinds[a.resource],
                    "kafka-cluster" if a.resource == "cluster" else a.name,
                    pattern,
                    ident.principal,
                    "*",
                    AclOperation[op],
                    AclPermissionType.ALLOW,
                )
            )
    return out


def apply_identities(
    admin_conf: Mapping[str, Any],
    passwords: Mapping[str, str],
    identities: Iterable[Identity] = IDENTITIES,
    timeout: float = 30.0,
    iterations: int = 8192,
) -> None:
    """Create (or reset) each identity's SCRAM-SHA-512 credential (`passwords`: identity name -> password; an
    identity without one keeps its credential) and create its ACLs (idempotent: an existing binding is kept).
    `admin_conf` is an AdminClient configuration of a super user (eventbus.config.admin_config)."""
    from confluent_kafka.admin import (  # type: ignore[attr-defined]
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    idents = list(identities)
    admin = AdminClient(dict(admin_conf))
    ups: list[Any] = [
        UserScramCredentialUpsertion(
            i.username, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, iterations), passwords[i.name].encode()
        )
        for i in idents
        if i.name in passwords
    ]
    if ups:
        for fut in admin.alter_user_scram_credentials(ups, request_timeout=timeout).values():
            fut.result()
    bindings = [b for i in idents for b in _bindings(i)]
    if bindings:
        for fut in admin.create_acls(bindings, request_timeout=timeout).values():
            fut.result()
