"""PostgreSQL from Debian's packages, one cluster owned by the project, on loopback only."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from deploy.stack._proc import apt_install, port_open, wait_until
from deploy.stack.errors import StackError
from deploy.stack.settings import StackSettings

__all__ = ["PostgresService"]


def _bindir() -> Path:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists():
            return root
    apt_install("psql", "postgresql")
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists():
            return root
    raise StackError("PostgreSQL server binaries not found under /usr/lib/postgresql: apt-get install postgresql.")


class PostgresService:
    name = "postgres"

    def __init__(self, s: StackSettings) -> None:
        self.s = s
        self.link = s.home / "postgres"
        self.log = s.logs / "postgres.log"

    # PostgreSQL refuses to run as root. As root we run it as the `postgres` user, which must be able to
    # reach its data folder; when the checkout sits under a private folder (mktemp -d is 0700) the data
    # goes to /var/tmp/itscam-pg-<hash of the stack folder> and .stack/postgres links to it.
    def _user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def _datadir(self) -> Path:
        if self.link.is_symlink() or self.link.exists():
            return self.link.resolve() / "data"
        base = self.link
        user = self._user()
        if user is not None and not self._reachable(user, self.s.home):
            digest = hashlib.sha256(str(self.s.home.resolve()).encode()).hexdigest()[:12]
            base = Path("/var/tmp") / f"itscam-pg-{digest}"
            base.mkdir(parents=True, exist_ok=True)
            self.link.symlink_to(base)
        base.mkdir(parents=True, exist_ok=True)
        return base / "data"

    def _reachable(self, user: str, folder: Path) -> bool:
        res = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(folder)], check=False)
        return res.returncode == 0

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = self._user()
        full = ["runuser", "-u", user, "--", *cmd] if user else list(cmd)
        res = subprocess.run(full, capture_output=True, text=True, check=False)
        if check and res.returncode != 0:
            raise StackError(f"`{' '.join(cmd)}` failed: {res.stdout}{res.stderr}")
        return res

    def _chown(self, path: Path) -> None:
        user = self._user()
        if user:
            pw = pwd.getpwnam(user)
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def running(self) -> bool:
        data = self._datadir()
        if not (data / "PG_VERSION").exists():
            return False
        return self._run(str(_bindir() / "pg_ctl"), "-D", str(data), "status", check=False).returncode == 0

    def up(self) -> None:
        self.s.logs.mkdir(parents=True, exist_ok=True)
        bindir = _bindir()
        data = self._datadir()
        if self._user() and not shutil.which("runuser"):
            raise StackError("`runuser` (util-linux) is needed to start PostgreSQL as the postgres user.")
        self._chown(data.parent)
        if not (data / "PG_VERSION").exists():
            self._run(
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        if not self.running():
            if port_open(self.s.pg_port):
                raise StackError(
                    f"Port {self.s.pg_port} is taken by another process. Stop it or set ITS_STACK_PG_PORT."
                )
            pglog = data.parent / "postgres.log"
            opts = (
                f"-c listen_addresses=127.0.0.1 -c port={self.s.pg_port} -c unix_socket_directories='' "
                "-c max_connections=200 -c fsync=on -c synchronous_commit=off -c shared_buffers=256MB"
            )
            self._run(
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(pglog),
                "-o",
                opts,
                "-w",
                "-t",
                str(int(self.s.start_timeout_s)),
                "start",
            )
            if not self.log.exists():
                self.log.symlink_to(pglog)
        wait_until("PostgreSQL", lambda: port_open(self.s.pg_port), self.s.start_timeout_s, self.log)
        self._ensure_database(bindir)

    def _ensure_database(self, bindir: Path) -> None:
        psql = [str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.s.pg_port), "-U", "postgres", "-tA"]
        have = self._run(*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname='{self.s.pg_database}'").stdout
        if have.strip() != "1":
            self._run(*psql, "-c", f'CREATE DATABASE "{self.s.pg_database}"')

    def down(self) -> None:
        data = self._datadir()
        if (data / "PG_VERSION").exists() and self.running():
            self._run(str(_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop", check=False)

    def status(self) -> str:
        return f"running (127.0.0.1:{self.s.pg_port}/{self.s.pg_database})" if self.running() else "stopped"
