"""The source policy's part in a WHEP session (private to streams.ingest.whep): whose origin an Authorization header
may go to, which ICE candidates of an answer may be used, and error words that never come from the server."""

from __future__ import annotations

from urllib.parse import urlsplit

from schemas.source_policy import SourcePolicy, SourceRefused, checked_addresses
from streams.ingest.errors import SourceError

__all__ = ["checked_candidates", "local_why", "same_origin"]


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def same_origin(a: str, b: str) -> bool:
    """Whether URLs `a` and `b` share scheme, host and port (RFC 6454), default ports filled in."""
    return _origin(a) == _origin(b)


def local_why(error: BaseException) -> str:
    """What went wrong, in words that never come from the server (a protocol error may quote its bytes)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return type(error).__name__


def checked_candidates(answer: str, policy: SourcePolicy, shown: str) -> str:
    """`answer` (an SDP) without the ICE candidates the policy refuses or that name a host that does not resolve;
    SourceError (refused_by_policy) when it named some and none is left. A server must not steer our STUN and media
    packets at the metadata endpoint or a cluster address. A candidate given by name is kept with the address that
    was checked in its place, so aiortc never resolves the name again (DNS rebinding). Blocking (DNS): run it off the
    event loop."""
    kept: list[str] = []
    refused: SourceRefused | None = None
    for line in answer.splitlines(keepends=True):
        fields = line.split()
        if line.startswith("a=candidate:") and len(fields) >= 6:
            try:
                port = int(fields[5]) if fields[5].isdigit() else None
                addrs = checked_addresses(fields[4], port, policy, what=f"ICE candidate of {shown}")
                if not addrs:
                    continue  # a name that does not resolve (e.g. mDNS .local): cannot be checked, not used
                if str(addrs[0]) != fields[4]:  # a name, or an odd spelling: the checked address instead
                    end = line[len(line.rstrip("\r\n")) :]
                    line = " ".join([*fields[:4], str(addrs[0]), *fields[5:]]) + end
            except SourceRefused as e:
                refused = refused or e
                continue
        kept.append(line)
    if refused is not None and not any(x.startswith("a=candidate:") for x in kept):
        raise SourceError(str(refused), reason="refused_by_policy")
    return "".join(kept)
