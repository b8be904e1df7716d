"""The HTTP plumbing shared by the servers in `http_streams.py`: a ThreadingHTTPServer on 127.0.0.1 in a daemon
thread, whose request threads are tracked and joined on stop, and a request handler base with Basic auth."""

from __future__ import annotations

import base64
import binascii
import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from tests.servers._lifecycle import Served

# Errors that only mean "the client went away"; a streaming handler stops quietly on them.
CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class LoopbackHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer on 127.0.0.1:0 with daemon request threads that `join_workers` can still wait for."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], owner: HttpStreamServer) -> None:
        self.owner = owner
        self.stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._workers_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{type(self.owner).__name__}-request",
            daemon=True,
        )
        with self._workers_lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    def join_workers(self, timeout_s: float) -> list[threading.Thread]:
        """Wait for the request threads; return those still alive after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        with self._workers_lock:
            workers = list(self._workers)
        for w in workers:
            w.join(max(0.0, deadline - time.monotonic()))
        return [w for w in workers if w.is_alive()]

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], CLIENT_GONE):
            return
        super().handle_error(request, client_address)


class QuietHandler(BaseHTTPRequestHandler):
    """Request handler base: no access log, a socket timeout, optional HTTP Basic auth."""

    server: LoopbackHTTPServer
    protocol_version = "HTTP/1.0"
    timeout = 5.0  # a stuck client cannot hold a request thread (and so `stop()`) longer than this
    realm: ClassVar[str] = "its-camera-tests"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def stopping(self) -> threading.Event:
        return self.server.stopping

    def authorized(self) -> bool:
        """True when the server needs no credentials or the request carries the right ones; else answers 401."""
        owner = self.server.owner
        if owner.user is None:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            credentials = base64.b64decode(encoded, validate=True).decode() if scheme.lower() == "basic" else None
        except (binascii.Error, UnicodeDecodeError):
            credentials = None
        if credentials == f"{owner.user}:{owner.password or ''}":
            return True
        body = b"401 Unauthorized\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", f'Basic realm="{self.realm}"')
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return False

    def write_quietly(self, data: bytes) -> bool:
        """Write to the client; False when it has gone away or the server is stopping."""
        if self.stopping.is_set():
            return False
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except CLIENT_GONE:
            return False
        return True


class HttpStreamServer(Served):
    """Base of the HTTP servers: owns the LoopbackHTTPServer, its serving thread, and the lifecycle."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    path: str = "/"
    user: str | None = None
    password: str | None = None

    def __init__(self) -> None:
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def url_with(self, user: str, password: str) -> str:
        """`url` carrying `user:password@` (percent-encoded)."""
        from urllib.parse import quote

        return f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}{self.path}"

    def prepare(self) -> None:
        """Build what the server serves (frames, segments) before it listens. Subclasses override."""

    def cleanup(self) -> None:
        """Release what `prepare` made. Subclasses override."""

    def start(self) -> None:
        if self._server is not None:
            return
        self.prepare()
        try:
            server = LoopbackHTTPServer(self.handler, self)
        except BaseException:
            self.cleanup()
            raise
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        """Wait until a HEAD request gets any HTTP answer from the serving thread."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("HEAD", self.path)
                conn.getresponse().read()
                return
            except (OSError, http.client.HTTPException) as e:
                last = e
            finally:
                conn.close()
            time.sleep(0.02)
        raise ConnectionError(f"{type(self).__name__} did not answer on port {self.port}: {last}")

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.stopping.set()
            server.shutdown()
            if thread is not None:
                thread.join(10)
            stuck = server.join_workers(QuietHandler.timeout + 2)
            server.server_close()
            if stuck:
                raise RuntimeError(f"{type(self).__name__}: request threads did not finish: {stuck}")
        self.cleanup()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url})"
