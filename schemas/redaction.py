"""One redaction for every text that leaves a process: log lines, status events, exception messages, CLI output
and API answers.

`redact(text)` replaces, wherever they appear in `text`:

- the userinfo of any `scheme://user:password@host` URL (the password may hold '@', ':' or '/': everything up to
  the last '@' before the query or fragment is userinfo) -> `scheme://***@host`;
- the same in a percent-encoded URL (`rtsp%3A%2F%2Fu%3Ap%40h`, a URL inside a query value) -> `rtsp%3A%2F%2F***%40h`,
  and in `turn:`/`stun:` URIs, which have no `//` (`turn:user:pass@host` -> `turn:***@host`);
- the value of secret query, fragment and key=value parameters (token, key, sig, signature, auth, password,
  passwd, pwd, pw, pas, passphrase, secret, access_token, api_key, x-amz-signature, credential, ... and any name
  ending in one of them, or holding `pass` anywhere; case-insensitive) -> `token=***`, spaces around the `=`
  kept (`password = ***`); this covers libpq DSNs (`host=h password=secret`), JSON-ish `"password": "..."` and
  percent-encoded query parameters (`%3Ftoken%3D...`);
- `name: value` with such a name (YAML, headers, free text: `password: hunter2`, `x-api-key: abc`) -> up to the
  end of the line (or a `"`, `<`, `>`, backtick), except a bare `key:`, `session:`, `sig:` or `auth:`, which
  are too often plain words;
- `Authorization: Bearer|Basic|... <credentials>` and a bare `Bearer <token>` -> `Bearer ***`;
- API key tokens `its_<key_id>_<secret>` -> `its_<key_id>_***` (the key id is public).

It over-redacts rather than leaks: a URL whose path holds an '@' after a `host:port` loses its host. Redacting
twice gives the same text as redacting once. A JSON-escaped quote (`\"`) inside userinfo is part of it. Raw '?'
or '#' in a password is not URL syntax (they must be percent-encoded) and is not recognised, nor is userinfo
longer than 256 characters (the bound that keeps a long text linear), nor a secret that is neither userinfo nor
the value of a recognisable name (a stream key in a path, a token as a path segment): camera URLs do not rely on
this function for that, they are sealed whole (schemas/credentials.py).
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
    "pas",
    "pw",
    "passphrase",
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
# a name ending in one of SECRET_PARAM_NAMES, or holding "pass" anywhere (passcode, pass_file, loginpassphrase)
_SECRET_NAME = (
    rf"{_NAME_CHARS}{{0,64}}?(?:pass{_NAME_CHARS}{{0,32}}|"
    rf"{'|'.join(re.escape(n) for n in sorted(SECRET_PARAM_NAMES, key=len, reverse=True))})"
)
# where a text token ends: whitespace, double quotes, angle brackets, backticks (a URL inside a sentence or JSON);
# not a single quote, which RFC 3986 allows in userinfo and query values
_STOP = r"\s\"<>`"

# `Authorization: <scheme> <credentials>` (header, or `Authorization=` in a dict/repr): up to the end of the line;
# a placeholder (`Bearer <token>`, `{token}`) or what holds *** (redacted already) is left as it is
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization['\"]?+\s*+[:=]\s*+['\"]?+)(?:(bearer|basic|digest|negotiate|token|apikey)\s++)?+"
    r"(?![^\s'\"]*(?:[<{]|\*\*\*))[^\r\n'\"]+"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s++(?![^\s'\"]*(?:[<{]|\*\*\*))[^\s'\"<>`,;]+")
# Bounded (a scheme starts a word, userinfo is at most 256 characters) so a long text costs linear time. A
# backslash escape (a JSON-escaped quote, `\"`) is part of the userinfo.
_URL_USERINFO = re.compile(
    rf"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]{{0,31}}://)((?:\\[^\r\n]|[^{_STOP}?#\\]){{0,256}})@"
)
# The same URL percent-encoded (`rtsp%3A%2F%2Fu%3Ap%40host`, e.g. inside a query value): the text up to an encoded
# or raw ?, #, & or a stop character; its userinfo (up to the last %40) is found by _enc_userinfo.
_ENC_URL = re.compile(
    rf"(?i)(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]{{0,31}}%3A%2F%2F)((?:(?!%3F|%23)[^{_STOP}?#&]){{1,512}})"
)
_ENC_AT = re.compile(r"(?i)%40")
# turn:/stun: (RFC 7064/7065) and sip: URIs have no `//`: `turn:user:pass@host`
_OPAQUE_USERINFO = re.compile(
    rf"(?i)(?<![A-Za-z0-9+.\-])((?:turns?|stuns?|sips?):)(?!//)((?:\\[^\r\n]|[^{_STOP}?#\\]){{1,256}})@"
)
# name=value after ?, &, #, ;, whitespace, a comma, a bracket or the start: a query/fragment parameter or a
# key=value (libpq) pair, spaces around the '=' allowed. A value is 'quoted' (libpq) or runs to the next &, #, ;
# or stop character.
_PARAM = re.compile(
    rf"(?i)(^|[?&#;\s,:({{\['\"])({_SECRET_NAME})([ \t]*+=[ \t]*+)('(?:[^'\\]|\\.)*'|[^&#;{_STOP}]*)",
)
# the same, percent-encoded (%3F %26 %23 %3B before, %3D between)
_ENC_PARAM = re.compile(rf"(?i)(%3F|%26|%23|%3B)({_SECRET_NAME})(%3D)((?:(?!%26|%23|%3B)[^&#;{_STOP}])*)")
# name: value (YAML, a header, free text): a quoted value, or up to the end of the line (or a ", <, >, `); a
# bare key/session/sig/auth is too often a plain word ("partition key: 3")
_COLON = re.compile(
    rf"(?i)(^|[\s,;({{\['\"])(?!(?:key|session|sig|auth)[ \t]*+:)({_SECRET_NAME})([ \t]*+:[ \t]*+)"
    rf"(\"(?:[^\"\\\r\n]|\\.)*\"|'(?:[^'\\\r\n]|\\.)*'|[^\s\"'<>`][^\r\n\"<>`]*)"
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


def _enc_userinfo(m: re.Match[str]) -> str:
    scheme, rest = m.group(1), m.group(2)
    ats = list(_ENC_AT.finditer(rest))
    if not ats:
        return m.group(0)
    ui = rest[: ats[-1].start()]
    head = re.split(r"(?i)%2F", ui, maxsplit=1)[0]
    if len(head) == len(ui) or re.search(r"(?i)%3A|%40", head):
        return f"{scheme}{MASK}{rest[ats[-1].start() :]}"
    return m.group(0)  # an encoded '@' in the path: not userinfo


def _auth_header(m: re.Match[str]) -> str:
    scheme = m.group(2)
    return f"{m.group(1)}{scheme + ' ' if scheme else ''}{MASK}"


def _param(m: re.Match[str]) -> str:
    value = m.group(4)
    if value == "":
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}"


def _colon(m: re.Match[str]) -> str:
    value = m.group(4)
    q = value[0] if value[0] in "'\"" and len(value) > 1 and value[-1] == value[0] else ""
    return f"{m.group(1)}{m.group(2)}{m.group(3)}{q}{MASK}{q}"


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
    out = _ENC_URL.sub(_enc_userinfo, out)
    out = _OPAQUE_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", out)
    out = _PARAM.sub(_param, out)
    out = _ENC_PARAM.sub(_param, out)
    out = _COLON.sub(_colon, out)
    out = _QUOTED.sub(_quoted, out)
    return _API_TOKEN.sub(lambda m: m.group(1) + MASK, out)
