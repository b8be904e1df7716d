"""One redaction for every text that leaves a process: log lines, status events, exception messages, CLI output
and API answers.

`redact(text)` replaces, wherever they appear in `text`:

- the userinfo of any `scheme://user:password@host` URL (the password may hold '@', ':' or '/': everything up to
  the last '@' before the query or fragment is userinfo) -> `scheme://***@host`;
- the value of secret query, fragment and key=value parameters (token, key, sig, signature, auth, password,
  passwd, pwd, secret, access_token, api_key, x-amz-signature, credential, ... and any name ending in one of
  them; case-insensitive) -> `token=***`; this covers libpq DSNs (`host=h password=secret`) and JSON-ish
  `"password": "..."`;
- `Authorization: Bearer|Basic|... <credentials>` and a bare `Bearer <token>` -> `Bearer ***`;
- API key tokens `its_<key_id>_<secret>` -> `its_<key_id>_***` (the key id is public).

It over-redacts rather than leaks: a URL whose path holds an '@' after a `host:port` loses its host. Redacting
twice gives the same text as redacting once. Raw '?' or '#' in a password is not URL syntax (they must be
percent-encoded) and is not recognised, nor is userinfo longer than 256 characters (the bound that keeps a long
text linear).
"""

from __future__ import annotations

import re

__all__ = ["MASK", "SECRET_PARAM_NAMES", "redact"]

MASK = "***"

#: parameter names whose values are secrets (a name ending in one of these is one too, e.g. `X-Goog-Signature`)
SECRET_PARAM_NAMES = (
    "token",
    "key",
    "sig",
    "signature",
    "auth",
    "password",
    "passwd",
    "pwd",
    "pass",
    "secret",
    "credential",
    "credentials",
    "jwt",
    "session",
    "sessionid",
    "apikey",
    "access_token",
    "api_key",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
)

_NAME_CHARS = r"[A-Za-z0-9_.\-]"
_SECRET_NAME = (
    rf"{_NAME_CHARS}{{0,64}}?(?:{'|'.join(re.escape(n) for n in sorted(SECRET_PARAM_NAMES, key=len, reverse=True))})"
)
# where a text token ends: whitespace, double quotes, angle brackets, backticks (a URL inside a sentence or JSON);
# not a single quote, which RFC 3986 allows in userinfo and query values
_STOP = r"\s\"<>`"

# `Authorization: <scheme> <credentials>` (header, or `Authorization=` in a dict/repr): up to the end of the line;
# a placeholder (`Bearer <token>`, `{token}`) or *** is left as it is
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization['\"]?+\s*+[:=]\s*+['\"]?+)(?:(bearer|basic|digest|negotiate|token|apikey)\s++)?+"
    r"(?![^\s'\"]*[<{])(?!\*\*\*)[^\r\n'\"]+"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s++(?![^\s'\"]*[<{])(?!\*\*\*)[^\s'\"<>`,;]+")
# Bounded (a scheme starts a word, userinfo is at most 256 characters) so a long text costs linear time.
_URL_USERINFO = re.compile(rf"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]{{0,31}}://)([^{_STOP}?#]{{0,256}})@")
# name=value after ?, &, #, ;, whitespace, a comma, a bracket or the start: a query/fragment parameter or a
# key=value (libpq) pair. A value is 'quoted' (libpq) or runs to the next &, #, ; or stop character.
_PARAM = re.compile(
    rf"(?i)(^|[?&#;\s,:({{\['\"])({_SECRET_NAME})(=)('(?:[^'\\]|\\.)*'|[^&#;{_STOP}]*)",
)
# "name": "value" / 'name': 'value' (JSON, Python reprs)
_QUOTED = re.compile(rf"(?i)(['\"])({_SECRET_NAME})\1(\s*:\s*)(['\"])((?:(?!\4)[^\\]|\\.)*)\4")
_API_TOKEN = re.compile(r"\b(its_[0-9a-f]{12}_)[A-Za-z0-9_\-]{20,128}")


def _userinfo(m: re.Match[str]) -> str:
    scheme, ui = m.group(1), m.group(2)
    head = ui.split("/", 1)[0]
    if "/" not in ui or ":" in head or "@" in head:
        return f"{scheme}{MASK}@"
    # `host/path@x`: an '@' in the path, not userinfo; a URL further in (a redirect target) may still hold one
    return scheme + _URL_USERINFO.sub(_userinfo, ui) + "@"


def _auth_header(m: re.Match[str]) -> str:
    scheme = m.group(2)
    return f"{m.group(1)}{scheme + ' ' if scheme else ''}{MASK}"


def _param(m: re.Match[str]) -> str:
    value = m.group(4)
    if value == "":
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}={MASK}"


def _quoted(m: re.Match[str]) -> str:
    q, v = m.group(1), m.group(4)
    return f"{q}{m.group(2)}{q}{m.group(3)}{v}{MASK}{v}"


def redact(text: str) -> str:
    """`text` with every credential it holds replaced by *** (see the module's doc for what is recognised)."""
    if not text:
        return text
    out = _AUTH_HEADER.sub(_auth_header, text)
    out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", out)
    out = _URL_USERINFO.sub(_userinfo, out)
    out = _PARAM.sub(_param, out)
    out = _QUOTED.sub(_quoted, out)
    return _API_TOKEN.sub(lambda m: m.group(1) + MASK, out)
