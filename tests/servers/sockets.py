"""Dead ends on loopback: a port where nothing listens, and a "host" that never answers a connection attempt.

`BlackholeServer` makes connects time out without touching any address but 127.0.0.1: it listens with a backlog
of 0 and fills the accept queue with one connection of its own that it never accepts. On Linux the kernel then
drops every further SYN to that port, so a client's connect() hangs until its own timeout, just like a camera
behind a firewall that drops packets. (Checked on Linux 6.x: `socket.create_connection(..., timeout=2)` raises
TimeoutError after 2 s.) If the kernel still completes a handshake (other OSes), the client gets a connection on
which nothing is ever sent or read, which times out the same way at the protocol level.
"""

from __future__ import annotations

import socket

from tests.servers._lifecycle import Served


def refused_url(scheme: str = "rtsp", path: str = "/cam") -> str:
    """A URL on 127.0.0.1 at a port where nothing listens (connect gets ECONNREFUSED)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    return f"{scheme}://127.0.0.1:{port}{path}"


class BlackholeServer(Served):
    """A loopback port whose connection attempts are never answered: clients' connects time out."""

    def __init__(self, scheme: str = "rtsp", path: str = "/cam") -> None:
        self.scheme = scheme
        self.path = path
        self.port = 0
        self._listener: socket.socket | None = None
        self._filler: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{self.path}"

    def url_for(self, scheme: str, path: str = "/") -> str:
        """The black hole's address under another scheme, e.g. `url_for("http", "/stream.ts")`."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            self.port = int(listener.getsockname()[1])
            # The one connection the accept queue holds; it is never accepted, so the queue stays full.
            self._filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except BaseException:
            listener.close()
            raise
        self._listener = listener

    def stop(self) -> None:
        for sock in (self._filler, self._listener):
            if sock is not None:
                sock.close()
        self._filler = self._listener = None

    def __repr__(self) -> str:
        return f"BlackholeServer({self.url})"
