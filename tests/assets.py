"""Extract Ultralytics' own sample images (bus.jpg, zidane.jpg) from its wheel for the fixture tests.

The images ship inside the `ultralytics` wheel on PyPI; we download the wheel (no dependencies, no torch)
and unpack just the two JPEGs. Run by `make install`: python -m tests.assets DEST
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "ultralytics==8.4.190"
IMAGES = ("bus.jpg", "zidane.jpg")


def main(dest: str) -> int:
    out = Path(dest)
    if all((out / name).exists() for name in IMAGES):
        return 0
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", tmp, WHEEL],
            check=True,
        )
        wheel = next(Path(tmp).glob("ultralytics-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for name in IMAGES:
                (out / name).write_bytes(zf.read(f"ultralytics/assets/{name}"))
    print(f"test images {', '.join(IMAGES)} extracted from {WHEEL} into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".stack/assets"))
