"""Camera credentials sealed for the ingest workers: never stored or published in plaintext.

A camera source URL may carry credentials (`rtsp://user:password@cam/stream`, `...?token=...`). The writers of
CameraConfig (the API's camera commands, `itscam cameras add|update`, the demo) call `seal_source(cfg)`: the
original URL is sealed into `source_secret` for the ingest workers' public key and `source_url` keeps only the
redacted URL (`rtsp://***@cam/stream?token=***`). The compacted camera topic, the projector's read model and
every answer of the API therefore hold no credential; only a process holding the ingest private key can open it
(`source_url_for(cfg)`).

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

from schemas.cameras import CameraConfigError
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
            f"The source URL holds credentials (user:password@ or a secret query parameter), which are only "
            f"stored sealed, and {PUBLIC_KEY_ENV} is not set. Make a key pair with `{KEYGEN_COMMAND}`: set "
            f"{PUBLIC_KEY_ENV} for the API and CLI and {PRIVATE_KEY_ENV} for ingest; or give a URL without "
            "credentials."
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


def has_credentials(url: str) -> bool:
    """Whether `url` holds anything redact() hides (userinfo, a secret query parameter, a token)."""
    return redact(url) != url


def seal_source(cfg: Mapping[str, Any], public_key: str | None = None) -> dict[str, Any]:
    """`cfg` ready to publish: if its source_url holds credentials, the URL is sealed into source_secret (with
    `public_key`, default ITS_CAMERA_SEAL_PUBLIC_KEY) and source_url keeps the redacted URL. A URL without
    credentials keeps the source_secret it came with (a PATCH that leaves the URL alone). CredentialsError when a
    URL holds credentials and no key is configured."""
    out = dict(cfg)
    url = out["source_url"]
    if has_credentials(url):
        out["source_secret"] = seal(url, load_public_key(public_key), out["camera_id"])
        out["source_url"] = redact(url)
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
