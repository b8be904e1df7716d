"""The local stack's key pair for sealed camera credentials (schemas/credentials.py): made once, kept.

A camera URL with credentials is published only sealed for ingest's private key, and the compacted camera topic
keeps sealed records for as long as the camera exists: so the pair is made on the first `itscam stack up` and then
kept under `<stack home>/secrets/` (0600), never regenerated. Processes find it through the usual settings
(ITS_CAMERA_SEAL_PUBLIC_KEY for the API and CLI, ITS_INGEST_SEAL_PRIVATE_KEY for ingest); `itscam demo` sets them.
"""

from __future__ import annotations

import os
from pathlib import Path

from deploy.stack.settings import StackSettings

__all__ = ["ensure_seal_keys", "seal_key_paths"]


def seal_key_paths(s: StackSettings) -> tuple[Path, Path]:
    """(private, public) key files of the local stack."""
    d = s.home / "secrets"
    return d / "seal.key", d / "seal.pub"


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def ensure_seal_keys(s: StackSettings) -> tuple[Path, Path]:
    """The stack's seal key files, made now if missing (both or neither: a lone half is replaced)."""
    from schemas.credentials import generate_keypair

    private, public = seal_key_paths(s)
    if private.exists() and public.exists():
        return private, public
    private.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(private.parent, 0o700)
    private.unlink(missing_ok=True)
    public.unlink(missing_ok=True)
    priv, pub = generate_keypair()
    _write(private, priv)
    _write(public, pub)
    return private, public
