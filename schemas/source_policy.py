"""Which camera sources may be opened: one policy, applied by the API and the CLI when a camera is written, and by
the ingest worker at every connect (and every redirect or nested open it follows).

A camera URL is attacker-controlled data for anyone holding an `ops` key, so a source is refused when
- its scheme is not one its protocol needs: RTSP_TCP/RTSP_UDP rtsp, rtsps; HTTP_MJPEG and HLS http, https; WHEP whep,
  wheps, http, https; FFMPEG (generic) http, https, rtsp, rtsps, rtmp, rtmps, srt (no raw udp/tcp: those can listen,
  and no FFmpeg pseudo-protocols such as concat:, subfile:, data:, pipe:); FILE a bare path or file:// URL;
- it is a file and files are off (ITS_SOURCE_ALLOW_FILES) or its real path (symlinks resolved) is outside every
  ITS_SOURCE_FILE_DIRS entry;
- a destination address (after DNS resolution; IPv4-mapped/compatible/NAT64/6to4 IPv6 and odd IPv4 spellings such as
  2130706433, 0x7f.1, 0177.0.0.1 normalised first) is: a cloud metadata endpoint, link-local (169.254/16, fe80::/10),
  unspecified (0.0.0.0, ::), multicast, reserved, loopback (unless ITS_SOURCE_ALLOW_LOOPBACK), in
  ITS_SOURCE_CLUSTER_CIDRS or ITS_SOURCE_DENY_CIDRS, or outside ITS_SOURCE_ALLOW_CIDRS when that list is set.

Host names must be ASCII (an internationalised name is given in its punycode, xn--, form): resolvers and URL parsers
disagree on how to map other spellings (fullwidth dots, IDNA 2003 vs 2008), and the name checked must be the name
connected to.

A host name that does not resolve when the camera is written (API, CLI: `check_source` without `connect`) is accepted
(a camera may be registered before its DNS record exists). The ingest worker resolves and checks it again at every
connect (`connect=True`, `pin`, `pinned_url`) and refuses a name that does not resolve then (rule unresolved); it
connects to the very address it checked (the host name goes only into the Host header and TLS SNI), so a second DNS
answer (rebinding) never decides where a connection goes.

Refusal messages (422 bodies, camera status) never say which address a name resolved to (that would make the API a
DNS oracle for the inside of the network); the address is logged on the server side.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schemas.cameras import CameraConfigError, redact

__all__ = [
    "SCHEMES",
    "SourcePolicy",
    "SourceRefused",
    "check_address",
    "check_file",
    "check_source",
    "host_address",
    "is_live",
    "pin",
    "pinned_url",
    "resolve_protocol",
    "source_path",
]

_log = logging.getLogger(__name__)

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network

#: schemes each protocol may use ("" is a bare path)
SCHEMES: dict[str, frozenset[str]] = {
    "RTSP_TCP": frozenset({"rtsp", "rtsps"}),
    "RTSP_UDP": frozenset({"rtsp", "rtsps"}),
    "HTTP_MJPEG": frozenset({"http", "https"}),
    "HLS": frozenset({"http", "https"}),
    "WHEP": frozenset({"whep", "wheps", "http", "https"}),
    "FFMPEG": frozenset({"http", "https", "rtsp", "rtsps", "rtmp", "rtmps", "srt"}),
    "FILE": frozenset({"", "file"}),
}
#: cloud metadata endpoints: refused whatever else is allowed (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba)
_METADATA = tuple(ipaddress.ip_network(n) for n in ("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_LIVE = re.compile(r"^(rtsp|rtsps|rtmp|rtmps|http|https|udp|tcp|srt|whep|wheps)://", re.IGNORECASE)
_ODD_V4 = re.compile(r"^(0[xX][0-9a-fA-F]+|[0-9]+)(\.(0[xX][0-9a-fA-F]+|[0-9]+)){0,3}$")
_FIX = {
    "loopback": "set ITS_SOURCE_ALLOW_LOOPBACK=true only where a camera really is on this host (tests, the demo)",
    "cluster_cidr": "cameras are never inside the cluster; check ITS_SOURCE_CLUSTER_CIDRS",
    "deny_cidr": "the address is in ITS_SOURCE_DENY_CIDRS",
    "allow_cidrs": "add the camera network to ITS_SOURCE_ALLOW_CIDRS",
}


class SourceRefused(CameraConfigError):
    """A camera source the source policy refuses; `rule` is the short name of the rule (e.g. "loopback")."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message, "source_url", f"is refused by the source policy (rule {rule})")
        self.rule = rule


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class SourcePolicy(BaseSettings):
    """What camera sources may reach (env prefix ITS_SOURCE_; lists are comma-separated)."""

    model_config = SettingsConfigDict(env_prefix="ITS_SOURCE_", extra="ignore", frozen=True)

    allow_files: bool = Field(False, description="Allow local files as sources (under file_dirs only).")
    file_dirs: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Directories local file sources must be under (real paths)."
    )
    allow_loopback: bool = Field(False, description="Allow loopback addresses (127/8, ::1): tests and the demo.")
    allow_cidrs: Annotated[list[Net], NoDecode] = Field(
        default_factory=list, description="Camera networks; when set, every destination must be inside one."
    )
    deny_cidrs: Annotated[list[Net], NoDecode] = Field(default_factory=list, description="Networks refused.")
    cluster_cidrs: Annotated[list[Net], NoDecode] = Field(
        default_factory=list, description="The cluster's pod and service CIDRs (refused)."
    )

    @field_validator("file_dirs", "allow_cidrs", "deny_cidrs", "cluster_cidrs", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("allow_cidrs", "deny_cidrs", "cluster_cidrs", mode="after")
    @classmethod
    def _networks(cls, value: list[Any]) -> list[Net]:
        return [ipaddress.ip_network(v, strict=False) if isinstance(v, str) else v for v in value]


def is_live(url: str) -> bool:
    return bool(_LIVE.match(url))


def resolve_protocol(url: str, protocol: str = "AUTO") -> str:
    """The concrete protocol of a camera: the configured one, or one inferred from the URL."""
    if protocol != "AUTO":
        return protocol
    u = url.lower()
    if u.startswith(("rtsp://", "rtsps://")):
        return "RTSP_TCP"
    if u.startswith(("whep://", "wheps://")):
        return "WHEP"
    if _SCHEME.match(u) and u.split("?")[0].endswith(".m3u8"):
        return "HLS"
    if _SCHEME.match(u) and not u.startswith("file:"):
        return "FFMPEG"
    return "FILE"


def _scheme(url: str) -> str:
    m = _SCHEME.match(url)
    return m.group(1).lower() if m else ""


def source_path(url: str) -> str:
    """The local path of a FILE source (a bare path or a file:// URL), not yet resolved."""
    if _scheme(url) == "file":
        parts = urlsplit(url)
        return unquote(parts.path if parts.netloc in ("", "localhost") else f"//{parts.netloc}{parts.path}")
    return url


def _literal(host: str) -> IP | None:
    """`host` as an address when it is one, in any spelling FFmpeg's resolver would also take as one."""
    h = host.strip("[]").split("%")[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        pass
    if _ODD_V4.match(h):  # 2130706433, 0x7f000001, 0177.0.0.1, 127.1: inet_aton's spellings
        try:
            return ipaddress.IPv4Address(socket.inet_aton(h))
        except OSError:
            return None
    return None


def host_address(host: str) -> IP | None:
    """`host` as an address when it is one (in any spelling a resolver takes as one), None for a name."""
    return _literal(host)


def _plain(ip: IP) -> IP:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), else `ip` itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # 64:ff9b::a.b.c.d, ::a.b.c.d
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _in(ip: IP, nets: Iterable[Net]) -> bool:
    return any(ip.version == n.version and ip in n for n in nets)


def _refuse(what: str, ip: IP, rule: str, why: str) -> SourceRefused:
    """The refusal; the address goes to the server's log only (the message is shown to API clients and in status)."""
    fix = _FIX.get(rule, "this is never a camera")
    _log.warning("source policy: %s resolves to %s: refused (rule %s)", what, ip, rule)
    return SourceRefused(f"Camera source {what} resolves to {why}: refused (rule {rule}; {fix}).", rule)


def check_address(host: str, ip: str | IP, policy: SourcePolicy, what: str | None = None) -> None:
    """Raise SourceRefused when `ip` (an address `host` resolved to) is not a destination sources may reach."""
    what = what or host
    addr = _plain(ip if not isinstance(ip, str) else (_literal(ip) or ipaddress.ip_address(ip)))
    if _in(addr, _METADATA):
        raise _refuse(what, addr, "metadata", "a cloud metadata endpoint")
    if addr.is_link_local:
        raise _refuse(what, addr, "link_local", "a link-local address")
    if addr.is_unspecified:
        raise _refuse(what, addr, "unspecified", "the unspecified address")
    if addr.is_multicast:
        raise _refuse(what, addr, "multicast", "a multicast address")
    if addr.is_loopback and not policy.allow_loopback:
        raise _refuse(what, addr, "loopback", "a loopback address")
    broadcast = isinstance(addr, ipaddress.IPv4Address) and addr == ipaddress.IPv4Address(0xFFFFFFFF)
    if (addr.is_reserved and not addr.is_loopback) or broadcast:  # ::1 sits in the reserved ::/8
        raise _refuse(what, addr, "reserved", "a reserved address")
    if _in(addr, policy.cluster_cidrs):
        raise _refuse(what, addr, "cluster_cidr", "an address inside the cluster")
    if _in(addr, policy.deny_cidrs):
        raise _refuse(what, addr, "deny_cidr", "an address in a denied network")
    if policy.allow_cidrs and not addr.is_loopback and not _in(addr, policy.allow_cidrs):
        raise _refuse(what, addr, "allow_cidrs", "an address outside every allowed camera network")


def resolve(host: str, port: int | None) -> list[IP]:
    """Every address `host` resolves to (empty when it does not resolve)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def checked_addresses(
    host: str, port: int | None, policy: SourcePolicy, *, what: str, resolve_names: bool = True
) -> list[IP]:
    """Every address of `host` (resolved once, now), each checked; empty for a name that does not resolve (or is not
    resolved). A non-ASCII name is refused (rule host): give its punycode (xn--) form."""
    if not host.isascii():
        raise SourceRefused(
            f"Camera source {what} has a host name that is not ASCII: refused (rule host; give an internationalised "
            "name in its punycode form, xn--...).",
            "host",
        )
    literal = _literal(host)
    name = host.lower().rstrip(".")
    if literal is None and (name in ("localhost", "localhost.localdomain") or name.endswith(".localhost")):
        literal = ipaddress.ip_address("127.0.0.1")  # RFC 6761: always loopback, whatever DNS says
    addrs = [literal] if literal is not None else (resolve(host, port) if resolve_names else [])
    for ip in addrs:
        check_address(host, ip, policy, what)
    return addrs


def check_host(host: str, port: int | None, policy: SourcePolicy, *, what: str, resolve_names: bool = True) -> int:
    """Check every address of `host`; return how many were checked (0: a name that does not resolve, or not
    resolved)."""
    return len(checked_addresses(host, port, policy, what=what, resolve_names=resolve_names))


def _unresolved(what: str) -> SourceRefused:
    return SourceRefused(
        f"Camera source {what} does not resolve: refused at connect (rule unresolved; check the host name in DNS, or "
        "give the camera's address).",
        "unresolved",
    )


def pin(host: str, port: int | None, policy: SourcePolicy, *, what: str) -> IP:
    """The address to connect to for `host`: resolved once, every address checked, the first one (in resolver order)
    returned. Connect to exactly this address, never to the name. SourceRefused (rule unresolved) when the name does
    not resolve."""
    addrs = checked_addresses(host, port, policy, what=what)
    if not addrs:
        raise _unresolved(what)
    return addrs[0]


def _ip_host(ip: IP) -> str:
    return f"[{ip}]" if ip.version == 6 else str(ip)


def pinned_url(url: str, policy: SourcePolicy, *, what: str | None = None) -> tuple[str, str]:
    """`url` with its host replaced by the checked address (`pin`), userinfo, port, path and query kept; and the
    host as given (host[:port], for a Host header and TLS SNI). SourceRefused when refused or unresolved."""
    what = what or redact(url)
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise SourceRefused(f"Camera source {what} has an invalid host or port: refused (rule host).", "host") from None
    head, _, rest = url.partition("://")
    if not host or not rest.startswith(parts.netloc):  # urlsplit keeps the netloc as written, right after "://"
        raise SourceRefused(f"Camera source {what} names no host: refused (rule host).", "host")
    ip = pin(host, port, policy, what=what)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{_ip_host(ip)}" + (f":{port}" if port is not None else "")
    return f"{head}://{netloc}{rest[len(parts.netloc) :]}", hostport


def check_file(path: str, policy: SourcePolicy, shown: str) -> str:
    """The real path of local file `path` (symlinks resolved) when the policy allows it; SourceRefused otherwise."""
    _check_file(path, policy, shown)
    return os.path.realpath(path)


def _check_file(path: str, policy: SourcePolicy, shown: str) -> None:
    if not policy.allow_files:
        raise SourceRefused(
            f"Camera source {shown} is a local file and files are off: refused (rule files_disabled; set "
            "ITS_SOURCE_ALLOW_FILES=true and ITS_SOURCE_FILE_DIRS to the directories of the clips).",
            "files_disabled",
        )
    real = os.path.realpath(path)
    for d in policy.file_dirs:
        root = os.path.realpath(d)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return
    raise SourceRefused(
        f"Camera source {shown} is outside the allowed file directories: refused (rule file_dir; put the clip under "
        f"one of ITS_SOURCE_FILE_DIRS ({', '.join(policy.file_dirs) or 'none set'}) or add its directory there).",
        "file_dir",
    )


def check_source(
    url: str, protocol: str = "AUTO", policy: SourcePolicy | None = None, *, resolve: bool = True, connect: bool = False
) -> str:
    """Raise SourceRefused when `url` (read as `protocol`) may not be opened; return the concrete protocol.

    Host names are resolved (`resolve`) and every address is checked. On the write path (API, CLI) a name that does
    not resolve is accepted, to be checked again at connect time; at connect (`connect=True`, the ingest worker) it
    is refused (rule unresolved)."""
    policy = policy if policy is not None else SourcePolicy()
    shown = redact(url)
    proto = resolve_protocol(url, protocol)
    scheme = _scheme(url)
    allowed = SCHEMES.get(proto, frozenset())
    if scheme not in allowed:
        given = f"{scheme}:" if scheme else "a local path"
        want = ", ".join(sorted(f"{s}://" if s else "a path" for s in allowed)) or "nothing"
        raise SourceRefused(
            f"Camera source {shown} uses {given}, which protocol {proto} does not allow: refused (rule scheme; use "
            f"{want}).",
            "scheme",
        )
    if proto == "FILE":
        _check_file(source_path(url), policy, shown)
        return proto
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise SourceRefused(
            f"Camera source {shown} has an invalid host or port: refused (rule host).", "host"
        ) from None
    if not host:
        raise SourceRefused(f"Camera source {shown} names no host: refused (rule host).", "host")
    if check_host(host, port, policy, what=shown, resolve_names=resolve or connect) == 0 and connect:
        raise _unresolved(shown)
    return proto
