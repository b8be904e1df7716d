"""Camera credentials sealed for the ingest workers: never stored or published in plaintext.

A camera source URL may carry credentials (`rtsp://user:password@cam/stream`, `...?token=...`). The writers of
CameraConfig (the API's camera commands, `itscam cameras add|update`, the demo) call `seal_source(cfg)`: the
original URL is sealed into `source_secret` for the ingest workers' public key and `source_url` keeps only the
URL as `display_url` shows it (`rtsp://***@cam/stream?token=***`). The compacted camera topic, the projector's
read model and every answer of the API therefore hold no credential; only a process holding the ingest private
key can open it (`source_url_for(cfg)`).

What is sealed is decided by the URL's structure, not by recognising secret names: a URL is sealed when it has a
user or password (any text before an '@' in its host part), a query string, a fragment or `;name=value` path
parameters (camera query parameters are very often tokens; sealing a harmless one costs nothing), or when it is
an RTMP URL with a path (the stream key is the last path segment). `display_url` shows userinfo as `***`, every
query, fragment and path-parameter value as `***` (names kept), an RTMP URL as `rtmp://host/***`, and then
applies `redact()` too (a '@' in the path). A token that is a plain path segment of another scheme
(`https://cdn/<token>/index.m3u8`) is not recognised. `check_source_url` (schemas/cameras.py) refuses, before
writing, the URLs whose parts cannot be told apart (unencoded quotes, spaces, '<', '>', backslashes, control
characters, an unencoded '?', '#' or '/' in a password); display_url shows one (a legacy record) as `scheme://***`.

Sealing is ECIES over X25519: an ephemeral key pair per seal, ECDH with the ingest public key, HKDF-SHA256 to a
256-bit key, AES-256-GCM with the camera id as associated data (a sealed URL moved onto another camera does not
open). The text form is `its-seal-v1.<key id>.<base64url(ephemeral public key | nonce | ciphertext+tag)>`, the
key id being the first 8 bytes (hex) of the SHA-256 of the recipient public key, so a status can say which key a
record was sealed for.

Keys (`itscam secrets keygen` makes a pair) are 32 raw bytes in base64; each setting takes the base64 text or
the path of a file holding it:

- `ITS_CAMERA_SEAL_PUBLIC_KEY`: the writers (API, CLI, demo). A URL with credentials and no key is refused.
- `ITS_INGEST_SEAL_PRIVATE_KEY`: the ingest workers (mount it from a Kubernetes Secret).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.cameras import CameraConfigError, check_source_url
from schemas.errors import SchemaError
from schemas.redaction import MASK, redact

__all__ = [
    "KEYGEN_COMMAND",
    "PRIVATE_KEY_ENV",
    "PUBLIC_KEY_ENV",
    "SEAL_PREFIX",
    "CredentialsError",
    "SealSettings",
    "UnsealError",
    "display_url",
    "generate_keypair",
    "has_credentials",
    "key_id",
    "load_private_key",
    "load_public_key",
    "seal",
    "seal_source",
    "source_url_for",
    "unseal",
]

SEAL_PREFIX = "its-seal-v1"
PUBLIC_KEY_ENV = "ITS_CAMERA_SEAL_PUBLIC_KEY"
PRIVATE_KEY_ENV = "ITS_INGEST_SEAL_PRIVATE_KEY"
KEYGEN_COMMAND = "itscam secrets keygen"
_INFO = b"its-camera-source-seal-v1"
_NONCE = 12
_RAW = serialization.Encoding.Raw


class CredentialsError(CameraConfigError):
    """A source URL with credentials cannot be sealed (no or a bad public key); the API answers 422."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "source_url", "holds credentials that cannot be sealed")


class UnsealError(SchemaError):
    """A sealed source cannot be opened (no or another private key, or a damaged/tampered record). The message
    names the fix and never holds the secret."""


class SealSettings(BaseSettings):
    """The sealing keys, from the environment (each the base64 key or the path of a file holding it)."""

    model_config = SettingsConfigDict(extra="ignore")

    public_key: str = Field(
        "",
        validation_alias=AliasChoices(PUBLIC_KEY_ENV),
        description="Public key camera credentials are sealed for (API, CLI); empty: URLs with credentials are "
        "refused.",
    )
    private_key: SecretStr = Field(
        SecretStr(""),
        validation_alias=AliasChoices(PRIVATE_KEY_ENV),
        description="Private key ingest opens sealed camera credentials with.",
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    text = text.strip().replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_keypair() -> tuple[str, str]:
    """(private key, public key) as base64 text."""
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return _b64(raw), _b64(private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw))


def _key_bytes(value: str, env: str) -> bytes:
    text = value.strip()
    if not text:
        raise KeyError(env)
    try:
        if Path(text).is_file():
            text = Path(text).read_text(encoding="utf-8").strip()
    except OSError:
        pass  # not a readable path: the key itself
    try:
        raw = _unb64(text)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            f"{env} is neither a 32-byte key in base64 nor the path of a file holding one; make a pair with "
            f"`{KEYGEN_COMMAND}`."
        )
    return raw


def load_public_key(value: str | None = None) -> X25519PublicKey:
    """The sealing public key from `value` (default: ITS_CAMERA_SEAL_PUBLIC_KEY); CredentialsError if none."""
    value = SealSettings().public_key if value is None else value
    try:
        return X25519PublicKey.from_public_bytes(_key_bytes(value, PUBLIC_KEY_ENV))
    except KeyError:
        raise CredentialsError(
            "The source URL may hold credentials (a user or password, a query string, a fragment, path parameters "
            f"or an RTMP stream key), which are only stored sealed, and {PUBLIC_KEY_ENV} is not set. Make a key "
            f"pair with `{KEYGEN_COMMAND}`: set {PUBLIC_KEY_ENV} for the API and CLI and {PRIVATE_KEY_ENV} for "
            "ingest; or give a URL without any of these."
        ) from None
    except ValueError as e:
        raise CredentialsError(str(e)) from None


def load_private_key(value: str | None = None) -> X25519PrivateKey:
    """The ingest private key from `value` (default: ITS_INGEST_SEAL_PRIVATE_KEY); UnsealError if none."""
    value = SealSettings().private_key.get_secret_value() if value is None else value
    try:
        return X25519PrivateKey.from_private_bytes(_key_bytes(value, PRIVATE_KEY_ENV))
    except KeyError:
        raise UnsealError(
            f"The camera's credentials are sealed and {PRIVATE_KEY_ENV} is not set on this ingest worker; set it "
            f"to the private key matching the API's {PUBLIC_KEY_ENV} (`{KEYGEN_COMMAND}` makes a pair)."
        ) from None
    except ValueError as e:
        raise UnsealError(str(e)) from None


def key_id(public: X25519PublicKey) -> str:
    """A short public name of a key: the first 8 bytes (hex) of the SHA-256 of its raw bytes."""
    return hashlib.sha256(public.public_bytes(_RAW, serialization.PublicFormat.Raw)).hexdigest()[:16]


def _aead_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)
    return AESGCM(key)


def _aad(context: str) -> bytes:
    return b"its-camera:" + context.encode()


def seal(plaintext: str, public: X25519PublicKey, context: str) -> str:
    """`plaintext` sealed for the holder of `public`'s private key, bound to `context` (the camera id)."""
    ephemeral = X25519PrivateKey.generate()
    eph_raw = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    rcp_raw = public.public_bytes(_RAW, serialization.PublicFormat.Raw)
    nonce = os.urandom(_NONCE)
    ct = _aead_key(ephemeral.exchange(public), eph_raw, rcp_raw).encrypt(nonce, plaintext.encode(), _aad(context))
    return f"{SEAL_PREFIX}.{key_id(public)}.{_b64(eph_raw + nonce + ct)}"


def unseal(sealed: str, private: X25519PrivateKey, context: str) -> str:
    """The plaintext of `sealed` (from `seal(..., context)`); UnsealError naming the fix if it cannot be opened."""
    parts = sealed.split(".")
    if len(parts) != 3 or parts[0] != SEAL_PREFIX:
        raise UnsealError(
            f"The camera's source_secret is not a {SEAL_PREFIX} sealed value (an unknown version or a damaged "
            "record); write the camera again (API PUT/PATCH or `itscam cameras update --url`)."
        )
    public = private.public_key()
    mine = key_id(public)
    if parts[1] != mine:
        raise UnsealError(
            f"The camera's credentials were sealed for key {parts[1]}, but this ingest worker holds key {mine} "
            f"({PRIVATE_KEY_ENV}); give ingest the private key matching the API's {PUBLIC_KEY_ENV}, or write the "
            "camera's URL again with the current key."
        )
    try:
        blob = _unb64(parts[2])
    except (binascii.Error, ValueError):
        blob = b""
    eph_raw, nonce, ct = blob[:32], blob[32 : 32 + _NONCE], blob[32 + _NONCE :]
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph_raw))
        rcp_raw = public.public_bytes(_RAW, serialization.PublicFormat.Raw)
        return _aead_key(shared, eph_raw, rcp_raw).decrypt(nonce, ct, _aad(context)).decode()
    except (InvalidTag, ValueError, UnicodeDecodeError):
        raise UnsealError(
            "The camera's sealed credentials do not open (damaged, tampered with, or sealed for another camera); "
            "write the camera's URL again (API PUT/PATCH or `itscam cameras update --url`)."
        ) from None


#: schemes whose path is a stream key (`rtmp://host/app/<key>`)
_RTMP = frozenset({"rtmp", "rtmps", "rtmpe", "rtmpt", "rtmpte", "rtmpts"})
_PARAM_NAME = re.compile(r"[A-Za-z0-9_.~\-\[\]]{1,64}")
_PATH_PARAM = re.compile(r";([^;/=]*)=([^;/]+)")
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*:)?(//[^/]*)?(.*)", re.DOTALL)


def _mask_params(text: str) -> str:
    """`a=1&b&c=` -> `a=***&***&c=`: every value masked, a name kept when it looks like one."""
    out = []
    for part in text.split("&"):
        name, eq, value = part.partition("=")
        if not part or (eq and not value and _PARAM_NAME.fullmatch(name)):
            out.append(part)
        elif eq and _PARAM_NAME.fullmatch(name):
            out.append(f"{name}={MASK}")
        else:
            out.append(MASK)
    return "&".join(out)


def display_url(url: str) -> str:
    """`url` as it may be stored, published and answered: userinfo, every query/fragment/path-parameter value and
    an RTMP stream key replaced by ***, then redact()ed; a URL whose parts cannot be told apart (check_source_url
    refuses it) as `scheme://***`. Showing a shown URL again changes nothing."""
    try:
        check_source_url(url)
    except CameraConfigError:
        head = _URL.match(url)
        return f"{head.group(1)}//{MASK}" if head and head.group(1) else MASK
    rest, hash_, fragment = url.partition("#")
    rest, qmark, query = rest.partition("?")
    m = _URL.fullmatch(rest)
    assert m is not None  # every group is optional and the last takes anything
    scheme, authority, path = m.group(1) or "", m.group(2) or "", m.group(3)
    if "@" in authority:
        authority = f"//{MASK}@{authority.rpartition('@')[2]}"
    if scheme[:-1].lower() in _RTMP and (path.strip("/") or qmark or hash_):
        return redact(f"{scheme}{authority}/{MASK}")
    out = scheme + authority + _PATH_PARAM.sub(lambda p: f";{p.group(1)}={MASK}", path)
    if qmark:
        out += "?" + _mask_params(query)
    if hash_:
        out += "#" + _mask_params(fragment)
    return redact(out)


def has_credentials(url: str) -> bool:
    """Whether `url` may hold a credential, decided by its structure (userinfo, a query, a fragment, path
    parameters, an RTMP stream key) and by redact(): whether display_url changes it. A URL display_url already
    gave (its parts ***) holds none."""
    return display_url(url) != url


def seal_source(cfg: Mapping[str, Any], public_key: str | None = None) -> dict[str, Any]:
    """`cfg` ready to publish: if its source_url may hold credentials (has_credentials), the URL is sealed into
    source_secret (with `public_key`, default ITS_CAMERA_SEAL_PUBLIC_KEY) and source_url keeps display_url's form.
    A URL without credentials keeps the source_secret it came with (a PATCH that leaves the URL alone).
    CredentialsError when a URL holds credentials and no key is configured. The writers validate the URL first
    (validate_camera: check_source_url); one that fails it (a legacy record) is sealed and shown as `scheme://***`."""
    out = dict(cfg)
    url = out["source_url"]
    shown = display_url(url)
    if shown != url:
        out["source_secret"] = seal(url, load_public_key(public_key), out["camera_id"])
        out["source_url"] = shown
    else:
        out.setdefault("source_secret", None)
        if MASK in url and not out["source_secret"]:
            # a redacted URL without its sealed original (e.g. a legacy read-model row): writing it would make
            # ingest log in as "***"
            raise CameraConfigError(
                f"Camera {out['camera_id']}: source_url {url} holds redacted credentials (***) and no sealed "
                "original goes with it; give the full URL (with its credentials) in source_url.",
                "source_url",
                "holds redacted credentials",
            )
    return out


def source_url_for(cfg: Mapping[str, Any], private_key: str | None = None) -> str:
    """The URL ingest opens: source_secret unsealed (with `private_key`, default ITS_INGEST_SEAL_PRIVATE_KEY), or
    source_url when nothing is sealed (a URL without credentials, or a legacy record with them in plaintext)."""
    sealed = cfg.get("source_secret")
    if not sealed:
        return str(cfg["source_url"])
    return unseal(sealed, load_private_key(private_key), cfg["camera_id"])
