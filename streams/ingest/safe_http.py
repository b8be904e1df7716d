"""HTTP for FFmpeg's HTTP-based demuxers (MJPEG over HTTP, HLS), and local files, opened by us so the source policy
holds at every hop.

PyAV's `io_open` hook routes every open FFmpeg makes for such a container through `SafeOpener`: the camera URL itself,
every redirect, every HLS variant playlist, playlist reload, key and segment. Each target must be http(s); its host
is resolved once and every address checked (`schemas.source_policy.pinned_url`), and the connection is made to the
checked address itself, the name going only into the Host header and TLS SNI (`pinned_request`): httpx never resolves
the name again, so DNS rebinding cannot move the connection. A name that does not resolve is refused (rule
unresolved). Redirects are followed by hand (at most `max_redirects`), each target checked the same way. FFmpeg's
own http protocol (which follows redirects to anywhere and opens whatever a playlist names) is never used. A refused
open is remembered in `refused`, so the reader can report `refused_by_policy` instead of a generic read error.

FILE sources go through `FileOpener` the same way: a playlist (or concat list, image sequence) under an allowed
directory cannot name a file outside the allowed directories, nor any other scheme.

No remote bytes reach messages: failures are reported by HTTP status code only. TLS certificates are not verified
(as FFmpeg's default, tls_verify=0): cameras mostly carry self-signed certificates.
"""

from __future__ import annotations

import errno
import re
from typing import Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from schemas.source_policy import SourcePolicy, SourceRefused, check_file, host_address, pinned_url, source_path

__all__ = ["FileOpener", "SafeOpener", "pinned_request"]

_SCHEME_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_AVIO_FLAG_WRITE = 2


def pinned_request(url: str, policy: SourcePolicy, *, what: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """What httpx must request to reach http(s) `url` at the address the policy checked: the URL with the host
    replaced by that address, the Host header and the request extensions (TLS SNI: the name, so a certificate is
    still checked against it where the client verifies). SourceRefused when the policy refuses or the name does not
    resolve."""
    ip_url, hostport = pinned_url(url, policy, what=what)
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme.lower() == "https"
    extensions: dict[str, Any] = {"sni_hostname": host} if tls and host_address(host) is None else {}
    return ip_url, {"Host": hostport}, extensions


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

    def _check(self, url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The pinned request for `url` (see `pinned_request`); OSError(EACCES) when the policy refuses it."""
        parts = urlsplit(url)
        try:
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise SourceRefused(
                    f"A nested open of {parts.scheme or 'a local path'}: (not http/https) was refused (rule scheme).",
                    "scheme",
                )
            shown = f"{parts.scheme}://{parts.hostname}"
            return pinned_request(url, self.policy, what=f"(nested open of) {shown}")
        except SourceRefused as e:
            self.refused = self.refused or e
            raise OSError(errno.EACCES, f"refused by the source policy (rule {e.rule})") from None

    def __call__(self, url: str, flags: int = 0, options: dict[str, str] | None = None) -> _Body:
        for _ in range(self.max_redirects + 1):
            ip_url, headers, extensions = self._check(url)
            try:
                request = self._client.build_request("GET", ip_url, headers=headers, extensions=extensions)
                response = self._client.send(request, stream=True)
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


class FileOpener:
    """`io_open` for PyAV for FILE sources: every open FFmpeg makes (the clip itself, and whatever an HLS playlist, a
    concat list or an image sequence under the allowed directories names) must be a local path whose real path
    (symlinks resolved) is under ITS_SOURCE_FILE_DIRS, checked before anything is opened. Another scheme is refused
    (a custom `io_open` replaces FFmpeg's protocol layer, so its protocol_whitelist no longer applies: this is it)."""

    def __init__(self, policy: SourcePolicy) -> None:
        self.policy = policy
        self.refused: SourceRefused | None = None
        self._files: list[BinaryIO] = []

    def close(self) -> None:
        """Close every file opened (after the container: FFmpeg does not always hand the main one back)."""
        for f in self._files:
            f.close()
        self._files.clear()

    def _path(self, url: str) -> str:
        if url.startswith("file://"):
            return source_path(url)
        if url.startswith("file:"):
            return url[len("file:") :]
        if (scheme := _SCHEME_PREFIX.match(url)) is not None:
            raise SourceRefused(
                f"A nested open of {scheme.group(1)}: (not a local file) was refused (rule scheme).", "scheme"
            )
        return url

    def __call__(self, url: str, flags: int = 0, options: dict[str, str] | None = None) -> BinaryIO:
        try:
            if flags & _AVIO_FLAG_WRITE:
                raise SourceRefused("A nested open for writing was refused (rule scheme).", "scheme")
            real = check_file(self._path(url), self.policy, "(nested open of) a local file")
        except SourceRefused as e:
            self.refused = self.refused or e
            raise OSError(errno.EACCES, f"refused by the source policy (rule {e.rule})") from None
        f = open(real, "rb")  # noqa: SIM115 - closed by close()
        self._files = [x for x in self._files if not x.closed]
        self._files.append(f)
        return f
