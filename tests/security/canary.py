"""A canary: a loopback TCP/HTTP server that counts every connection and records every HTTP request made to it.

Put it where a request must never go (a refused address, a redirect target, another origin) and assert `count == 0`
afterwards; or read `requests` to see what was sent (method, path, headers). It answers any method on any path with
`status`, `body` and `headers` (e.g. a redirect, or a playlist for the origin a test allows). A connection that sends
anything that is not HTTP (RTSP, garbage, nothing) still counts.

    with Canary(host="127.0.0.2") as canary:
        ...
        assert canary.count == 0
"""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, Self

__all__ = ["Canary", "CanaryRequest"]


@dataclass(frozen=True)
class CanaryRequest:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    timeout = 5.0

    def setup(self) -> None:
        super().setup()
        with self.server.owner.lock:
            self.server.owner.connections += 1

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        with owner.lock:
            owner.requests.append(CanaryRequest(self.command, self.path, dict(self.headers.items())))
        body = owner.body(self.path) if callable(owner.body) else owner.body
        self.send_response(owner.status)
        for name, value in owner.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, owner: Canary) -> None:
        self.owner = owner
        super().__init__((owner.host, owner.port), _Handler)


class Canary:
    """Counts connections (`count`) and HTTP requests (`requests`) on `host`:`port` (a free port unless `port` is
    given: e.g. the port of another canary, on another loopback address, to stand for where a re-resolved name would
    lead)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        status: int = 404,
        body: bytes | Any = b"",
        headers: dict[str, str] | None = None,
        port: int = 0,
    ) -> None:
        self.host = host
        self.status = status
        self.body = body  # bytes, or a callable path -> bytes
        self.headers = headers or {"Content-Type": "text/plain"}
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[CanaryRequest] = []
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def count(self) -> int:
        """Connections accepted so far (each HTTP request comes on one)."""
        with self.lock:
            return self.connections

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> Self:
        self._server = _Server(self)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="canary", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
