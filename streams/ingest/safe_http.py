"""HTTP for FFmpeg's HTTP-based demuxers (MJPEG over HTTP, HLS), opened by us so the source policy holds at every hop.

PyAV's `io_open` hook routes every open FFmpeg makes for such a container through `SafeOpener`: the camera URL itself,
every redirect, every HLS variant playlist, playlist reload, key and segment. Each target must be http(s) and every
address its host resolves to is checked with `check_address` before a connection is made; redirects are followed by
hand (at most `max_redirects`), each target checked the same way. FFmpeg's own http protocol (which follows redirects
to anywhere and opens whatever a playlist names) is never used. A refused open is remembered in `refused`, so the
reader can report `refused_by_policy` instead of a generic read error.

No remote bytes reach messages: failures are reported by HTTP status code only. TLS certificates are not verified
(as FFmpeg's default, tls_verify=0): cameras mostly carry self-signed certificates.
"""

from __future__ import annotations

import errno
from urllib.parse import urljoin, urlsplit

import httpx

from schemas.source_policy import SourcePolicy, SourceRefused, check_host

__all__ = ["SafeOpener"]


class _Body:
    """A streamed response body as the read-only, non-seekable file PyAV reads."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks = response.iter_bytes()
        self._buf = b""
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        while not self._buf and not self._eof:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                self._eof = True
            except httpx.TimeoutException as e:
                raise OSError(errno.ETIMEDOUT, "timed out reading the camera") from e
            except httpx.HTTPError as e:
                raise OSError(errno.EIO, f"reading the camera failed ({type(e).__name__})") from e
        if n < 0 or n >= len(self._buf):
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def close(self) -> None:
        self._response.close()


class SafeOpener:
    """`io_open` for PyAV: opens http(s) URLs with the source policy checked at every hop."""

    def __init__(
        self, policy: SourcePolicy, open_timeout_s: float, read_timeout_s: float, max_redirects: int = 3
    ) -> None:
        self.policy = policy
        self.max_redirects = max_redirects
        self.refused: SourceRefused | None = None
        self._client = httpx.Client(
            timeout=httpx.Timeout(read_timeout_s, connect=open_timeout_s),
            follow_redirects=False,
            verify=False,  # as FFmpeg (tls_verify=0); the policy is about where
            trust_env=False,  # no proxy from the environment: the checked address is the one connected to
        )

    def close(self) -> None:
        self._client.close()

    def _check(self, url: str) -> None:
        parts = urlsplit(url)
        try:
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise SourceRefused(
                    f"A nested open of {parts.scheme or 'a local path'}: (not http/https) was refused (rule scheme).",
                    "scheme",
                )
            shown = f"{parts.scheme}://{parts.hostname}"
            check_host(parts.hostname, parts.port, self.policy, what=f"(nested open of) {shown}")
        except SourceRefused as e:
            self.refused = self.refused or e
            raise OSError(errno.EACCES, f"refused by the source policy (rule {e.rule})") from None

    def __call__(self, url: str, flags: int = 0, options: dict[str, str] | None = None) -> _Body:
        for _ in range(self.max_redirects + 1):
            self._check(url)
            try:
                response = self._client.send(self._client.build_request("GET", url), stream=True)
            except httpx.TimeoutException as e:
                raise OSError(errno.ETIMEDOUT, "connection timed out") from e
            except httpx.ConnectError as e:
                cause = e.__cause__ or e.__context__
                if isinstance(cause, ConnectionRefusedError) or "refused" in str(e).lower():
                    raise OSError(errno.ECONNREFUSED, "Connection refused") from e
                raise OSError(errno.EHOSTUNREACH, "No route to host") from e
            except httpx.HTTPError as e:
                raise OSError(errno.EIO, f"HTTP request failed ({type(e).__name__})") from e
            if response.is_redirect and "location" in response.headers:
                response.close()
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code >= 400:
                code = response.status_code
                response.close()
                if code in (401, 403):
                    raise OSError(errno.EACCES, f"HTTP {code} unauthorized")
                if code == 404:
                    raise OSError(errno.ENOENT, "HTTP 404 not found")
                raise OSError(errno.EIO, f"HTTP {code}")
            return _Body(response)
        raise OSError(errno.ELOOP, f"more than {self.max_redirects} redirects")
