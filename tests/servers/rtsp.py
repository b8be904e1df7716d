"""A real RTSP camera on 127.0.0.1: gst-rtsp-server (GStreamer) serving a looped H.264 clip over TCP and UDP.

The server runs as a child process of the system Python (`/usr/bin/python3`, which has python3-gi) executing
`_gst_rtsp.py`; the Debian packages it needs are listed in `apt-packages.txt`. The clip is sent as it is (no
re-encoding), paced in real time, looped for as long as the server runs.

    with RtspServer(CLIP, user="admin", password="secret") as cam:
        av.open(cam.url_with("admin", "secret"), options={"rtsp_transport": "tcp"})
        cam.kill()   # the camera dies mid-stream
        cam.start()  # and comes back on the same port
        cam.freeze()  # or hangs: the connection stays open, nothing flows (SIGSTOP); cam.thaw() resumes
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from tests.servers._lifecycle import Served

SCRIPT = Path(__file__).with_name("_gst_rtsp.py")
SYSTEM_PYTHON = "/usr/bin/python3"
APT_PACKAGES = Path(__file__).with_name("apt-packages.txt")


class RtspServerError(RuntimeError):
    """The RTSP server process could not start or did not answer in time."""


def rtsp_request_status(
    port: int,
    path: str = "/cam",
    *,
    user: str | None = None,
    password: str | None = None,
    timeout_s: float = 2.0,
) -> int:
    """Send OPTIONS then DESCRIBE to rtsp://127.0.0.1:port/path and return DESCRIBE's status code (200, 401, 404...)."""
    url = f"rtsp://127.0.0.1:{port}{path}"
    auth = ""
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        auth = f"Authorization: Basic {token}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        reader = sock.makefile("rb")
        try:
            sock.sendall(f"OPTIONS {url} RTSP/1.0\r\nCSeq: 1\r\n{auth}\r\n".encode())
            _read_response(reader)
            sock.sendall(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n{auth}\r\n".encode())
            return _read_response(reader)
        finally:
            reader.close()


def _read_response(reader: io.BufferedReader) -> int:
    """Read one RTSP response (status line, headers, body) and return its status code."""
    status_line = reader.readline(1024).decode("latin-1")
    match = re.match(r"RTSP/1\.0 (\d{3})", status_line)
    if not match:
        raise ConnectionError(f"not an RTSP response: {status_line!r}")
    length = 0
    for _ in range(100):  # bounded number of header lines
        line = reader.readline(4096).decode("latin-1").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        reader.read(length)
    return int(match.group(1))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer(Served):
    """gst-rtsp-server on 127.0.0.1 serving `clip` (H.264 MP4) at rtsp://127.0.0.1:PORT{path}, RTP over TCP or UDP.

    With `user`, clients must send RTSP Basic auth with `user`/`password`; anything else gets 401 Unauthorized.
    The port is picked on the first start and kept: `kill()` then `start()` brings the camera back at the same URL.
    """

    def __init__(
        self,
        clip: Path,
        *,
        user: str | None = None,
        password: str | None = None,
        path: str = "/cam",
        ready_timeout_s: float = 20.0,
        max_seconds: float = 1800.0,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        self.clip = Path(clip)
        self.user = user
        self.password = password
        self.path = path
        self.ready_timeout_s = ready_timeout_s
        self.max_seconds = max_seconds
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._logdir: str | None = None
        self._frozen = False

    # -- URLs ---------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The stream URL without credentials."""
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def url_with(self, user: str, password: str) -> str:
        """The stream URL carrying `user:password@` (percent-encoded)."""
        return f"rtsp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}{self.path}"

    @property
    def authorized_url(self) -> str:
        """The URL a client with the right credentials uses (`url` when the server needs none)."""
        return self.url if self.user is None else self.url_with(self.user, self.password or "")

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self) -> None:
        """Start the server process on `self.port` and wait until it answers DESCRIBE. No-op when running."""
        if self.running:
            return
        self._reap()
        python = shutil.which(SYSTEM_PYTHON)
        if python is None:
            raise RtspServerError(f"{SYSTEM_PYTHON} is missing; install the packages in {APT_PACKAGES}")
        if not self.clip.is_file():
            raise FileNotFoundError(self.clip)
        if self._logdir is None:
            self._logdir = tempfile.mkdtemp(prefix="its-rtsp-")
        cmd = [
            python,
            str(SCRIPT),
            "--port",
            str(self.port),
            "--clip",
            str(self.clip),
            "--path",
            self.path,
            "--max-seconds",
            str(self.max_seconds),
            "--parent-pid",
            str(os.getpid()),
        ]
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password or ""]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        with open(self._log_path, "wb") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RtspServerError(
                    f"RTSP server exited with {self._proc.returncode} (are the Debian packages in {APT_PACKAGES.name} "
                    f"installed?): {self.log()[-2000:]}"
                )
            try:
                status = rtsp_request_status(
                    self.port, self.path, user=self.user, password=self.password, timeout_s=2.0
                )
            except OSError as e:
                last = e
            else:
                if status == 200:
                    return
                last = RtspServerError(f"DESCRIBE answered {status}")
            time.sleep(0.05)
        raise RtspServerError(f"RTSP server not ready after {self.ready_timeout_s}s ({last}): {self.log()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL the server process, like a camera losing power mid-stream. No-op when not running."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        self._reap()

    def freeze(self) -> None:
        """SIGSTOP the server: connections stay open but no byte flows (a hung camera). `thaw()` resumes it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGSTOP)
            self._frozen = True

    def thaw(self) -> None:
        """SIGCONT a frozen server."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)
        self._frozen = False

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM, then SIGKILL after 5 s) and remove its log."""
        if self._frozen:
            self.thaw()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._reap()
        if self._logdir is not None:
            shutil.rmtree(self._logdir, ignore_errors=True)
            self._logdir = None

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait(timeout=10)
            self._proc = None
        self._frozen = False

    @property
    def _log_path(self) -> Path:
        assert self._logdir is not None
        return Path(self._logdir) / "server.log"

    def log(self) -> str:
        """The server process's stdout and stderr so far."""
        if self._logdir is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(errors="replace")

    def __repr__(self) -> str:
        return f"RtspServer({self.url}, running={self.running})"
