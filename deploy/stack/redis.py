"""Redis from Debian's packages, on loopback only, persistence off (Redis holds only rebuildable caches)."""

from __future__ import annotations

import subprocess

from deploy.stack._proc import apt_install, port_open, read_pid, stop_pid, wait_until
from deploy.stack.errors import StackError
from deploy.stack.settings import StackSettings

__all__ = ["RedisService"]


class RedisService:
    name = "redis"

    def __init__(self, s: StackSettings) -> None:
        self.s = s
        self.dir = s.home / "redis"
        self.pidfile = self.dir / "redis.pid"
        self.log = s.logs / "redis.log"

    def running(self) -> bool:
        return read_pid(self.pidfile) is not None

    def up(self) -> None:
        if self.running() and port_open(self.s.redis_port):
            return
        if port_open(self.s.redis_port):
            raise StackError(
                f"Port {self.s.redis_port} is taken by another process. Stop it or set ITS_STACK_REDIS_PORT."
            )
        binary = apt_install("redis-server", "redis-server")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.s.logs.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.s.redis_port),
                "--dir",
                str(self.dir),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.pidfile),
                "--logfile",
                str(self.log),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            check=True,
        )
        # Redis writes its pid file after daemonizing, possibly after it listens: wait for both.
        wait_until("Redis", lambda: port_open(self.s.redis_port) and self.running(), self.s.start_timeout_s, self.log)

    def down(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None:
            stop_pid(pid)
        self.pidfile.unlink(missing_ok=True)

    def status(self) -> str:
        pid = read_pid(self.pidfile)
        return f"running (pid {pid}, {self.s.redis_url})" if pid else "stopped"
