"""Apache Kafka 4.x, KRaft mode, one combined broker+controller node, from Maven Central jars."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.stack._proc import port_open, read_pid, stop_pid, wait_until
from deploy.stack.errors import StackError
from deploy.stack.settings import StackSettings

if TYPE_CHECKING:
    from deploy.stack.kafka_secure import SecureKafka

__all__ = ["KafkaService"]

_HERE = Path(__file__).resolve().parent


class KafkaService:
    name = "kafka"

    def __init__(self, s: StackSettings) -> None:
        self.s = s
        self.dir = s.home / "kafka"
        self.libs = s.kafka_libs or self.dir / "libs"
        self.data = self.dir / "data"
        self.props = self.dir / "server.properties"
        self.pidfile = self.dir / "kafka.pid"
        self.log = s.logs / "kafka.log"
        self.secure_marker = self.dir / "secure"

    @property
    def secure(self) -> bool:
        """SCRAM + ACLs: asked for (ITS_STACK_KAFKA_SECURE, `up --secure`) or the storage was formatted so."""
        return self.s.kafka_secure or self.secure_marker.exists()

    def _secure(self) -> SecureKafka:
        from deploy.stack.kafka_secure import SecureKafka

        return SecureKafka(self.s)

    # 1. jars -----------------------------------------------------------------------------------------
    def install(self) -> None:
        if self.libs.is_dir() and any(self.libs.glob("kafka_2.13-*.jar")):
            return
        mvn = shutil.which("mvn")
        if not mvn:
            raise StackError("Maven (`mvn`) is needed to fetch Kafka from Maven Central: apt-get install maven.")
        self.libs.mkdir(parents=True, exist_ok=True)
        self.s.logs.mkdir(parents=True, exist_ok=True)
        with (self.s.logs / "kafka-install.log").open("w") as out:
            rc = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(_HERE / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={self.libs}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
        if rc != 0:
            shutil.rmtree(self.libs, ignore_errors=True)
            raise StackError(
                f"Maven could not resolve Kafka (exit {rc}); see {self.s.logs / 'kafka-install.log'}. "
                "Check that Maven Central is reachable."
            )

    def _java(self, main: str, *args: str, heap: str = "256m", opts: str = "") -> list[str]:
        java = shutil.which("java")
        if not java:
            raise StackError("Java 17+ is needed for Kafka: apt-get install openjdk-17-jre-headless.")
        return [
            java,
            f"-Xmx{heap}",
            *opts.split(),
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={_HERE / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.s.logs}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    # 2. config + storage format ----------------------------------------------------------------------
    def properties(self) -> str:
        """server.properties: PLAINTEXT listeners, or in secure mode SASL ones with the authorizer."""
        s = self.s
        listeners = [
            f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
        ]
        if self.secure:
            listeners = self._secure().listener_lines()
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{s.kafka_controller_port}",
                *listeners,
                f"log.dirs={self.data}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "message.max.bytes=8454144",
                "replica.fetch.max.bytes=8454144",
                "auto.create.topics.enable=false",
                "log.retention.check.interval.ms=60000",
                "",
            ]
        )

    def _configure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.secure:
            self.props.touch(mode=0o600)  # holds the broker's and the controller's passwords
            self.props.chmod(0o600)
        self.props.write_text(self.properties())
        if (self.data / "meta.properties").exists():
            return
        self.data.mkdir(parents=True, exist_ok=True)
        scram = self._secure().format_args() if self.secure else []
        cmd = self._java(
            "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(self.props), "--standalone", *scram
        )
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise StackError(f"Formatting Kafka storage in {self.data} failed: {res.stdout}{res.stderr}")
        if self.secure:
            self.secure_marker.touch()

    # 3. lifecycle ------------------------------------------------------------------------------------
    def running(self) -> bool:
        return read_pid(self.pidfile) is not None

    def up(self) -> None:
        if self.running() and port_open(self.s.kafka_port):
            return
        if port_open(self.s.kafka_port):
            raise StackError(
                f"Port {self.s.kafka_port} is taken by another process. Stop it or set ITS_STACK_KAFKA_PORT."
            )
        self.install()
        self.s.logs.mkdir(parents=True, exist_ok=True)
        self._configure()
        with (self.s.logs / "kafka.stdout").open("ab") as out:
            proc = subprocess.Popen(
                self._java("kafka.Kafka", str(self.props), heap=self.s.kafka_heap, opts=self.s.kafka_jvm_opts),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        wait_until("Kafka", self._answers, self.s.start_timeout_s, self.log)
        if self.secure:
            sec = self._secure()
            sec.apply()
            sec.write_env_files()

    def _answers(self) -> bool:
        if not self.running():
            raise StackError(f"Kafka exited during start-up; see {self.log} and {self.s.logs / 'kafka.stdout'}.")
        if not port_open(self.s.kafka_port):
            return False
        from confluent_kafka.admin import AdminClient

        from eventbus.config import admin_config

        conf = self._secure().admin_config() if self.secure else admin_config(self.s.kafka_bootstrap)
        try:
            md = AdminClient(conf).list_topics(timeout=2)
        except Exception:
            return False
        return bool(md.brokers)

    def down(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid, timeout=60)
        self.pidfile.unlink(missing_ok=True)

    def status(self) -> str:
        pid = read_pid(self.pidfile)
        if pid is None:
            return "stopped"
        mode = ", SCRAM + ACLs" if self.secure else ""
        return f"running (pid {pid}, {self.s.kafka_bootstrap}{mode})" if port_open(self.s.kafka_port) else "starting"


def _cluster_id() -> str:
    """A fresh cluster id in Kafka's Uuid form: 16 random bytes, url-safe base64 without padding.

    Like Kafka's own Uuid.randomUuid(), never one that starts with '-': the storage tool's argument parser
    would take it for an option (1 start in 64 failed with "expected one argument" before this).
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid
