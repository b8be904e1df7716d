"""`itscam secrets keygen`: a key pair for sealing camera credentials (schemas/credentials.py).

The public key goes to the writers of camera configurations (API, CLI: ITS_CAMERA_SEAL_PUBLIC_KEY), the private key
only to the ingest workers (ITS_INGEST_SEAL_PRIVATE_KEY). Each setting takes the base64 key or a file path.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from itscam.errors import CliError

__all__ = ["add_parser"]


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise CliError(f"{path} exists; pass --force to overwrite it (sealed cameras then need writing again).")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)


def _cmd(args: argparse.Namespace) -> int:
    from schemas.credentials import PRIVATE_KEY_ENV, PUBLIC_KEY_ENV, generate_keypair, key_id, load_public_key

    private, public = generate_keypair()
    kid = key_id(load_public_key(public))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        _write(out / "seal.key", private, args.force)
        _write(out / "seal.pub", public, args.force)
        print(f"key id: {kid}\nwrote {out / 'seal.key'} (private, 0600) and {out / 'seal.pub'} (public, 0600)")
        print(f"{PUBLIC_KEY_ENV}={out / 'seal.pub'}  # API and CLI")
        print(f"{PRIVATE_KEY_ENV}={out / 'seal.key'}  # ingest only")
        return 0
    print(f"# key id: {kid}; the private key goes to ingest only (a Kubernetes Secret), shown only now")
    print(f"{PUBLIC_KEY_ENV}={public}\n{PRIVATE_KEY_ENV}={private}")
    return 0


def add_parser(sub: Any) -> None:
    sp = sub.add_parser(
        "secrets",
        help="Key pair sealing camera credentials for ingest.",
        description="keygen: a new X25519 key pair. Camera URLs with credentials are stored and published only "
        "sealed with the public key (ITS_CAMERA_SEAL_PUBLIC_KEY, for the API and CLI); ingest opens them with the "
        "private key (ITS_INGEST_SEAL_PRIVATE_KEY). Prints both as environment lines, or writes seal.key and "
        "seal.pub (mode 0600) under --out.",
    )
    sp.add_argument("action", choices=["keygen"])
    sp.add_argument("--out", help="Directory to write seal.key and seal.pub into, instead of printing the keys.")
    sp.add_argument("--force", action="store_true", help="Overwrite existing key files.")
    sp.set_defaults(fn=_cmd)
