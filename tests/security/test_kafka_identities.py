"""Kafka identities and ACLs on a real broker: a second, secure Kafka (`itscam stack up kafka --secure`, SCRAM-SHA-512,
StandardAuthorizer, no anonymous listener) beside the running stack, its own home and ports. Anonymous clients and
wrong passwords are refused, each deployable's identity is refused every topic, group and transactional id it does
not own, and the whole pipeline (ingest -> inference -> analytics -> projector) runs end to end with each stage as
its own identity."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from deploy.stack import KafkaService, StackSettings
from deploy.stack.settings import repo_root
from eventbus.config import KafkaSecurity, admin_config, consumer_config, producer_config
from eventbus.identities import IDENTITIES, identity
from projections.db import connect
from tests.conftest import CLIP, MODEL, SHARED
from tests.projections.readmodels import scratch_schema

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Secure:
    settings: StackSettings
    bootstrap: str
    env_files: Path

    def env(self, name: str) -> dict[str, str]:
        """The ITS_KAFKA_* settings `itscam stack up --secure` wrote for identity `name`."""
        out = {}
        for line in (self.env_files / f"{name}.env").read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
        return out

    def security(self, name: str) -> KafkaSecurity:
        env = self.env(name)
        return KafkaSecurity(
            security_protocol=env["ITS_KAFKA_SECURITY_PROTOCOL"],
            sasl_mechanism=env["ITS_KAFKA_SASL_MECHANISM"],
            sasl_username=env["ITS_KAFKA_SASL_USERNAME"],
            sasl_password=SecretStr(env["ITS_KAFKA_SASL_PASSWORD"]),
            ssl_ca_location=env.get("ITS_KAFKA_SSL_CA_LOCATION", ""),
        )


@pytest.fixture(scope="module")
def secure() -> Iterator[Secure]:
    root = repo_root()
    home = root / ".stack" / f"secure-test-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        ITS_STACK_HOME=str(home),
        ITS_STACK_KAFKA_PORT=str(_free_port()),
        ITS_STACK_KAFKA_CONTROLLER_PORT=str(_free_port()),
        ITS_STACK_KAFKA_LIBS=str(root / ".stack" / "kafka" / "libs"),  # the running stack's jars
        ITS_STACK_KAFKA_HEAP="512m",
    )
    with mock.patch.dict(os.environ, env):
        settings = StackSettings()
    assert settings.home == home and settings.kafka_port != StackSettings().kafka_port
    kafka = KafkaService(settings)
    try:
        up = subprocess.run(
            [sys.executable, "-m", "itscam", "stack", "up", "kafka", "--secure"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert up.returncode == 0, up.stdout + up.stderr
        assert "SCRAM + ACLs" in up.stdout
        sec = Secure(settings, settings.kafka_bootstrap, home / "secrets" / "kafka")
        topics = subprocess.run(
            [sys.executable, "-m", "itscam", "topics", "apply"],
            env=dict(os.environ, **sec.env("admin")),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert topics.returncode == 0, topics.stdout + topics.stderr
        yield sec
    finally:
        kafka.down()  # this home's broker only (its pid file)
        shutil.rmtree(home, ignore_errors=True)


def test_secrets_are_private_and_there_is_one_per_identity(secure: Secure) -> None:
    for i in IDENTITIES:
        path = secure.env_files / f"{i.name}.env"
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        assert secure.env(i.name)["ITS_KAFKA_SASL_USERNAME"] == i.username
    assert (secure.settings.home / "kafka" / "server.properties").stat().st_mode & 0o077 == 0
    props = (secure.settings.home / "kafka" / "server.properties").read_text()
    assert "PLAINTEXT://" not in props and "allow.everyone.if.no.acl.found=false" in props
    assert "listener.security.protocol.map=CONTROLLER:SASL_SSL,CLIENT:SASL_SSL" in props
    assert secure.env("ingest")["ITS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"


def _list_topics(conf: dict[str, Any], timeout: float = 3.0) -> set[str]:
    return set(AdminClient(conf).list_topics(timeout=timeout).topics)


def test_anonymous_clients_and_wrong_passwords_are_refused(secure: Secure) -> None:
    with pytest.raises(KafkaException):
        _list_topics({"bootstrap.servers": secure.bootstrap, "socket.timeout.ms": 3000})
    wrong = secure.security("ingest").model_copy(update={"sasl_password": SecretStr("not-the-password")})
    with pytest.raises(KafkaException):
        _list_topics(admin_config(secure.bootstrap, **wrong.librdkafka()))
    # not a user at all
    nobody = wrong.model_copy(update={"sasl_username": "mallory"})
    with pytest.raises(KafkaException):
        _list_topics(admin_config(secure.bootstrap, **nobody.librdkafka()))
    # TLS: a client that does not trust the stack's CA does not talk to the broker (nor send it a password)
    untrusting = secure.security("ingest").model_copy(update={"ssl_ca_location": ""})
    with pytest.raises(KafkaException):
        _list_topics(admin_config(secure.bootstrap, **untrusting.librdkafka()))
    # the right password works, and sees only the topics it may describe
    seen = _list_topics(admin_config(secure.bootstrap, **secure.security("ingest").librdkafka()), timeout=15)
    assert "its.frames.v1" in seen and "its.detections.v1" not in seen


def _write(secure: Secure, who: str, topic: str) -> KafkaError | None:
    errors: list[KafkaError | None] = []
    p = Producer(
        producer_config(secure.bootstrap, **secure.security(who).librdkafka(), **{"message.timeout.ms": 15000})
    )
    # a tombstone of a key nobody uses: harmless on every topic this is allowed to reach
    p.produce(
        topic, key=f"acl-test-{uuid.uuid4().hex[:6]}".encode(), value=None, on_delivery=lambda e, _m: errors.append(e)
    )
    p.flush(20)
    assert errors, f"{who} -> {topic}: no delivery report"
    return errors[0]


@pytest.mark.parametrize(
    ("who", "topic", "allowed"),
    [
        ("ingest", "its.frames.v1", True),
        ("ingest", "its.detections.v1", False),
        ("ingest", "its.cameras.v1", False),
        ("inference", "its.cameras.v1", False),
        ("inference", "its.vehicle-events.v1", False),
        ("analytics", "its.frames.v1", False),
        ("analytics", "its.cameras.v1", False),
        ("projector", "its.vehicle-events.v1", False),
        ("projector", "its.dlq.v1", True),
        ("api", "its.frames.v1", False),
        ("api", "its.schemas.v1", False),
        ("api", "its.cameras.v1", True),
    ],
)
def test_each_identity_writes_only_its_topics(secure: Secure, who: str, topic: str, allowed: bool) -> None:
    err = _write(secure, who, topic)
    if allowed:
        assert err is None, f"{who} could not write {topic}: {err}"
    else:
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, f"{who} wrote {topic}: {err}"


def _read_error(secure: Secure, who: str, topic: str, group: str) -> int | None:
    """The first error a consumer of `topic` in `group` as `who` gets (None if it may read)."""
    c = Consumer(consumer_config(secure.bootstrap, group, **secure.security(who).librdkafka()))
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is not None and m.error().code() != KafkaError._PARTITION_EOF:
                return int(m.error().code())
            if c.assignment():
                return None
        return None
    finally:
        c.close()


@pytest.mark.parametrize(
    ("who", "topic", "group", "expect"),
    [
        ("ingest", "its.detections.v1", "its-ingest", KafkaError.TOPIC_AUTHORIZATION_FAILED),
        ("projector", "its.frames.v1", "its-projector", KafkaError.TOPIC_AUTHORIZATION_FAILED),
        # the API reads nothing: not even a group of its own
        ("api", "its.cameras.v1", "its-api", KafkaError.GROUP_AUTHORIZATION_FAILED),
        ("inference", "its.frames.v1", "its-projector", KafkaError.GROUP_AUTHORIZATION_FAILED),
        ("analytics", "its.detections.v1", "its-inference", KafkaError.GROUP_AUTHORIZATION_FAILED),
        ("inference", "its.frames.v1", "its-inference", None),
    ],
)
def test_each_identity_reads_only_its_topics_in_its_groups(
    secure: Secure, who: str, topic: str, group: str, expect: int | None
) -> None:
    assert _read_error(secure, who, topic, group) == expect


def test_transactional_ids_belong_to_their_stage(secure: Secure) -> None:
    for who, tid in (("ingest", "its-inference-x"), ("inference", "its-analytics-x")):
        p = Producer(
            producer_config(secure.bootstrap, **secure.security(who).librdkafka(), **{"transactional.id": tid})
        )
        with pytest.raises(KafkaException) as e:
            p.init_transactions(15)
        assert e.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    ok = Producer(
        producer_config(
            secure.bootstrap, **secure.security("inference").librdkafka(), **{"transactional.id": "its-inference-acl"}
        )
    )
    ok.init_transactions(15)


def test_the_table_names_the_deployables_own_group_and_transaction_ids() -> None:
    from inference.settings import InferenceSettings
    from projections.settings import ProjectorSettings
    from streams.ingest.settings import IngestSettings

    assert identity("ingest").acls  # the table's defaults are the settings' defaults
    assert any(a.name == IngestSettings.model_fields["group_id"].default for a in identity("ingest").acls)
    assert any(a.name == InferenceSettings.model_fields["group_id"].default for a in identity("inference").acls)
    assert any(
        ProjectorSettings.model_fields["group_id"].default.startswith(a.name)
        for a in identity("projector").acls
        if a.resource == "group"
    )


# -- the pipeline, each stage as its own identity -----------------------------------------------------------------


def _stage(secure: Secure, who: str, args: list[str], extra: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITS_KAFKA_")}
    env.update(secure.env(who))
    env.update(extra)
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "itscam", *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def _count(dsn: str, schema: str, table: str) -> int:
    with connect(dsn, schema) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # table: a fixed name of ours
        return int(row[0]) if row else 0


def test_the_pipeline_runs_end_to_end_with_one_identity_per_stage(secure: Secure, pg_dsn: str, tmp_path: Path) -> None:
    from eventbus.registry import put_camera
    from itscam.demo_camera import ground_truth
    from schemas.cameras import camera_config

    cam = f"secure-{uuid.uuid4().hex[:8]}"
    hand = ground_truth(SHARED / "data" / "ground_truth.json", str(CLIP))
    assert hand is not None
    cfg = camera_config(cam, str(CLIP), name="secure pipeline", enabled=False, lines=[hand.line], target_fps=10.0)
    # the API's identity registers cameras
    with mock.patch.dict(os.environ, secure.env("api")):
        put_camera(secure.bootstrap, cfg)

    with scratch_schema(pg_dsn, "secure") as schema:
        procs = [
            _stage(
                secure,
                "analytics",
                ["analytics", "--metrics-port", "0", "--store", "memory", "--data-dir", str(tmp_path / "analytics")],
                {"ITS_ANALYTICS_CAMERA_SYNC_TIMEOUT_S": "10"},
                tmp_path / "analytics.log",
            ),
            _stage(
                secure,
                "inference",
                ["inference"],
                {
                    "ITS_INFERENCE_MODEL_PATH": str(MODEL),
                    "ITS_INFERENCE_BACKEND": "onnxruntime",
                    "ITS_INFERENCE_WORKERS": "1",
                    "ITS_INFERENCE_METRICS_PORT": "0",
                },
                tmp_path / "inference.log",
            ),
            _stage(
                secure,
                "projector",
                ["projector"],
                {
                    "ITS_PG_DSN": pg_dsn,
                    "ITS_PROJECTOR_PG_SCHEMA": schema,
                    "ITS_PROJECTOR_UPDATE_REDIS": "false",
                    "ITS_PROJECTOR_METRICS_PORT": "0",
                },
                tmp_path / "projector.log",
            ),
        ]
        try:
            ingest = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "itscam",
                    "ingest",
                    "--source",
                    str(CLIP),
                    "--camera-id",
                    cam,
                    "--fps",
                    "10",
                    "--max-frames",
                    "40",
                    "--metrics-port",
                    "0",
                ],
                env={k: v for k, v in os.environ.items() if not k.startswith("ITS_KAFKA_")} | secure.env("ingest"),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert ingest.returncode == 0, ingest.stderr[-3000:]
            deadline = time.monotonic() + 150
            frames = events = 0
            while time.monotonic() < deadline:
                frames, events = _count(pg_dsn, schema, "frames"), _count(pg_dsn, schema, "vehicle_events")
                if frames >= 40 and events > 0:
                    break
                for p in procs:
                    assert p.poll() is None, f"a stage exited ({p.args}): see {tmp_path}"
                time.sleep(1)
            logs = "\n".join(
                f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(tmp_path.glob("*.log"))
            )
            assert frames == 40, f"projected {frames} frames of 40\n{logs}"
            assert events > 0, f"no vehicle events from analytics\n{logs}"
            assert "AUTHORIZATION_FAILED" not in logs and "uthorization failed" not in logs, logs
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
