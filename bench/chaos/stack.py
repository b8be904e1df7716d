"""The chaos run's own Kafka, PostgreSQL and Redis: the local stack's services (deploy/stack) under a folder and on
ports of their own, so the run can kill the broker and restart PostgreSQL without touching anyone's stack.

Settings (ITS_CHAOS_*): home, ports. Kafka's jars are shared with the main stack's when it has them.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import redis
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.stack import KafkaService, PostgresService, RedisService, StackSettings
from deploy.stack._proc import pid_alive, read_pid
from deploy.stack.redis import RedisCacheSettings

__all__ = ["ChaosSettings", "ChaosStack"]


class ChaosSettings(BaseSettings):
    """Where the chaos run keeps its stack and frame cache, and its ports (all on 127.0.0.1)."""

    model_config = SettingsConfigDict(env_prefix="ITS_CHAOS_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: StackSettings().home / "chaos",
        description="Folder of the chaos stack's data and logs and of the frame cache (<stack home>/chaos).",
    )
    kafka_port: int = Field(29092, description="The chaos broker's port (never the main stack's 19092).")
    kafka_controller_port: int = Field(29093, description="The chaos broker's KRaft controller port.")
    pg_port: int = Field(25432, description="The chaos PostgreSQL's port (never the main stack's 15432).")
    redis_port: int = Field(26379, description="The chaos Redis's port (never the main stack's 16379).")


class ChaosStack:
    def __init__(self, cs: ChaosSettings) -> None:
        main = StackSettings()
        libs = main.kafka_libs or main.home / "kafka" / "libs"
        self.settings = StackSettings(
            home=cs.home / "stack",
            kafka_port=cs.kafka_port,
            kafka_controller_port=cs.kafka_controller_port,
            pg_port=cs.pg_port,
            redis_port=cs.redis_port,
            kafka_libs=libs if any(libs.glob("kafka_2.13-*.jar")) else None,
            kafka_secure=False,
        )
        for port in (cs.kafka_port, cs.pg_port, cs.redis_port):
            if port in (main.kafka_port, main.pg_port, main.redis_port):
                raise ValueError(
                    f"ITS_CHAOS port {port} is the main stack's: the chaos run restarts its broker and database. "
                    "Set ITS_CHAOS_KAFKA_PORT / ITS_CHAOS_PG_PORT / ITS_CHAOS_REDIS_PORT to free ports."
                )
        self.kafka = KafkaService(self.settings)
        self.pg = PostgresService(self.settings)
        self.redis = RedisService(self.settings)
        self.redis.cache_settings = RedisCacheSettings(port=0)  # the API's query cache is not under test

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def pg_dsn(self) -> str:
        return self.settings.pg_dsn

    def redis_url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.settings.redis_port}/{db}"

    def up(self) -> None:
        for svc in (self.kafka, self.pg, self.redis):
            svc.up()

    def down(self) -> None:
        for svc in (self.redis, self.pg, self.kafka):
            try:
                svc.down()
            except Exception as e:  # stop the others whatever happens to one
                print(f"chaos: stopping {svc.name} failed: {e}", flush=True)

    # -- faults --------------------------------------------------------------------------------------
    def kill_broker(self) -> None:
        """SIGKILL the broker (no clean shutdown: its logs recover on start)."""
        pid = read_pid(self.kafka.pidfile)
        if pid is None:
            raise RuntimeError(f"the chaos broker is not running (no live pid in {self.kafka.pidfile})")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def start_broker(self) -> None:
        self.kafka.up()

    def restart_postgres(self) -> None:
        self.pg.down()
        self.pg.up()

    def flush_redis(self, db: int) -> None:
        with redis.Redis.from_url(self.redis_url(db)) as r:
            r.flushdb()
