"""Redis from Debian's packages, on loopback only, persistence off: two instances.

* state (ITS_STACK_REDIS_PORT, 16379; ITS_REDIS_URL): the projector's live/status/counts hashes, stills, the API's
  rate-limit buckets. `maxmemory-policy noeviction`: nothing is ever evicted to make room.
* query cache (ITS_STACK_REDIS_CACHE_PORT, 16380; ITS_API_CACHE_REDIS_URL): the API's cached answers only, with its
  own maxmemory (ITS_STACK_REDIS_CACHE_MAXMEMORY) and `allkeys-lru`, so a cache flood evicts cache entries alone.

`up` starts only what is not running (and sets noeviction on a state instance already running).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.stack._proc import apt_install, port_open, read_pid, stop_pid, wait_until
from deploy.stack.errors import StackError
from deploy.stack.settings import StackSettings

__all__ = ["RedisCacheSettings", "RedisService"]


class RedisCacheSettings(BaseSettings):
    """The local stack's query-cache Redis (prefix ITS_STACK_REDIS_CACHE_)."""

    model_config = SettingsConfigDict(env_prefix="ITS_STACK_REDIS_CACHE_", extra="ignore")

    port: int = Field(16380, description="Port on 127.0.0.1 of the query-cache Redis (0 = not started).")
    maxmemory: str = Field("64mb", description="maxmemory of the query-cache Redis (allkeys-lru beyond).")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _command(host: str, port: int, *args: str, timeout: float = 2.0) -> bytes:
    """One inline command to a local Redis without a password (the stack's), its raw reply."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(" ".join(args).encode() + b"\r\n")
        return sock.recv(4096)


class _Instance:
    def __init__(self, s: StackSettings, name: str, port: int, extra: list[str], env: str) -> None:
        self.s = s
        self.port = port
        self.extra = extra
        self.env = env
        self.dir = s.home / name
        self.pidfile = self.dir / "redis.pid"
        self.log = s.logs / f"{name}.log"

    def running(self) -> bool:
        return read_pid(self.pidfile) is not None

    def up(self) -> bool:
        """Start it unless it runs; True when it was already running."""
        if self.running() and port_open(self.port):
            return True
        if port_open(self.port):
            raise StackError(f"Port {self.port} is taken by another process. Stop it or set {self.env}.")
        binary = apt_install("redis-server", "redis-server")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.s.logs.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--daemonize", "yes", "--pidfile", str(self.pidfile), "--logfile", str(self.log),
             "--save", "", "--appendonly", "no", "--protected-mode", "yes", *self.extra],
            check=True,
        )  # fmt: skip
        # Redis writes its pid file after daemonizing, possibly after it listens: wait for both.
        wait_until("Redis", lambda: port_open(self.port) and self.running(), self.s.start_timeout_s, self.log)
        return False

    def down(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)


class RedisService:
    name = "redis"

    def __init__(self, s: StackSettings) -> None:
        self.s = s
        self.cache_settings = RedisCacheSettings()
        self.state = _Instance(s, "redis", s.redis_port, ["--maxmemory-policy", "noeviction"], "ITS_STACK_REDIS_PORT")
        c = self.cache_settings
        self.cache = _Instance(
            s,
            "redis-cache",
            c.port,
            ["--maxmemory", c.maxmemory, "--maxmemory-policy", "allkeys-lru"],
            "ITS_STACK_REDIS_CACHE_PORT",
        )
        # kept for `itscam stack logs` and existing callers: the state instance's
        self.dir = self.state.dir
        self.pidfile = self.state.pidfile
        self.log: Path = self.state.log

    def running(self) -> bool:
        return self.state.running()

    def up(self) -> None:
        if self.state.up():  # already running (an older stack): make sure it never evicts
            reply = _command("127.0.0.1", self.s.redis_port, "CONFIG", "SET", "maxmemory-policy", "noeviction")
            if not reply.startswith(b"+OK"):
                raise StackError(
                    f"Could not set maxmemory-policy noeviction on the Redis at port {self.s.redis_port}: "
                    f"{reply[:200]!r}. Restart it with `itscam stack down redis` and `itscam stack up`."
                )
        if self.cache_settings.port:
            self.cache.up()

    def down(self) -> None:
        self.cache.down()
        self.state.down()

    def status(self) -> str:
        pid = read_pid(self.state.pidfile)
        state = f"running (pid {pid}, {self.s.redis_url})" if pid else "stopped"
        if not self.cache_settings.port:
            return state
        cpid = read_pid(self.cache.pidfile)
        cache = f"running (pid {cpid}, {self.cache_settings.url})" if cpid else "stopped"
        return f"{state}; query cache {cache}"
