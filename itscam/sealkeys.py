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
    """A new file of mode 0600 holding `text`: never through a symlink or into a file someone else opened first
    (O_CREAT|O_EXCL|O_NOFOLLOW); --force unlinks what is there (a link itself, not its target) first."""
    if force:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise CliError(f"{path} is a directory; remove it or pick another --out.") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        raise CliError(
            f"{path} exists; pass --force to overwrite it (sealed cameras then need writing again)."
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # whatever the umask
        f.write(text + "\n")


def _cmd(args: argparse.Namespace) -> int:
    from schemas.credentials import PRIVATE_KEY_ENV, PUBLIC_KEY_ENV, generate_keypair, key_id, load_public_key

    private, public = generate_keypair()
    kid = key_id(load_public_key(public))
    if args.out:
        out = Path(args.out)
        if not out.is_dir():
            try:
                out.mkdir(mode=0o700, parents=True)  # the last component; parents get the default mode
            except FileExistsError:
                raise CliError(f"{out} exists and is not a directory; pick another --out.") from None
            os.chmod(out, 0o700)  # whatever the umask
        for name in ("seal.key", "seal.pub"):  # refuse before writing either
            if not args.force and os.path.lexists(out / name):
                raise CliError(
                    f"{out / name} exists; pass --force to overwrite it (sealed cameras then need writing again)."
                )
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
        "seal.pub (mode 0600, new files: never through a symlink) under --out (made with mode 0700 if missing).",
    )
    sp.add_argument("action", choices=["keygen"])
    sp.add_argument("--out", help="Directory to write seal.key and seal.pub into, instead of printing the keys.")
    sp.add_argument("--force", action="store_true", help="Overwrite existing key files.")
    sp.set_defaults(fn=_cmd)
