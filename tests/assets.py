"""Extract Ultralytics' own sample images (bus.jpg, zidane.jpg) from its wheel for the fixture tests.

The images ship inside the `ultralytics` wheel on PyPI. The wheel is the one uv.lock pins (the `export` extra): its
address and sha256 are read from the lock, the download is checked against that hash, and only the two JPEGs are
unpacked (no torch, no dependencies). Run by `make install`: python -m tests.assets DEST
"""

from __future__ import annotations

import hashlib
import io
import sys
import tomllib
import urllib.request
import zipfile
from pathlib import Path

LOCK = Path(__file__).resolve().parents[1] / "uv.lock"
PACKAGE = "ultralytics"
IMAGES = ("bus.jpg", "zidane.jpg")


def locked_wheel(lock: Path = LOCK) -> tuple[str, str, str]:
    """(version, url, sha256) of the pinned pure-Python wheel of PACKAGE in uv.lock."""
    for pkg in tomllib.loads(lock.read_text())["package"]:
        if pkg["name"] == PACKAGE:
            for wheel in pkg.get("wheels", []):
                if wheel["url"].endswith("-py3-none-any.whl"):
                    return pkg["version"], wheel["url"], wheel["hash"].removeprefix("sha256:")
    raise SystemExit(f"{lock} pins no {PACKAGE} wheel: it comes with the export extra; run `make lock`")


def main(dest: str) -> int:
    out = Path(dest)
    if all((out / name).exists() for name in IMAGES):
        return 0
    version, url, sha256 = locked_wheel()
    with urllib.request.urlopen(url, timeout=120) as response:  # an https URL from the lock
        data = response.read()
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise SystemExit(f"{url}: sha256 {got} is not the {sha256} uv.lock pins; the download is refused")
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in IMAGES:
            (out / name).write_bytes(zf.read(f"ultralytics/assets/{name}"))
    print(f"test images {', '.join(IMAGES)} extracted from {PACKAGE}=={version} (hash-checked) into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".stack/assets"))
