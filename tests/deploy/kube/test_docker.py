"""The Dockerfiles (deploy/docker): hadolint-clean, multi-stage, pinned bases, non-root, `itscam` as entry point,
every Python package pinned."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from deploy.kube import tool

DOCKER_DIR = Path(__file__).resolve().parents[3] / "deploy" / "docker"
DOCKERFILES = sorted(DOCKER_DIR.glob("Dockerfile*"))
# A pinned tag: explicit and versioned (python:3.11.13-slim-bookworm, nvidia/cuda:12.6.3-runtime-ubuntu24.04).
_PINNED_TAG = re.compile(r"^\d+\.\d+\.\d+[\w.-]*$")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def test_both_images_exist() -> None:
    names = {p.name for p in DOCKERFILES}
    assert {"Dockerfile", "Dockerfile.gpu"} <= names, f"deploy/docker has {sorted(names)}: need Dockerfile(.gpu)"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(path: Path) -> None:
    proc = subprocess.run([tool("hadolint"), str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"hadolint finds problems in {path.name}; fix them:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_structure(path: Path) -> None:
    ins = instructions(path)
    froms = [args.split()[0] for word, args in ins if word == "FROM"]
    assert len(froms) >= 2, f"{path.name}: build in a builder stage and copy into a slim runtime (>= 2 FROM)"
    for image in froms:
        tag = image.partition(":")[2]
        assert tag and tag != "latest" and _PINNED_TAG.match(tag), (
            f"{path.name}: FROM {image} is not pinned: use an exact versioned tag, e.g. python:3.11.13-slim-bookworm"
        )
    users = [args for word, args in ins if word == "USER"]
    assert users, f"{path.name}: no USER: run as the non-root user 10001"
    uid = users[-1].split(":")[0]
    assert uid not in ("root", "0") and (not uid.isdigit() or int(uid) > 10000), (
        f"{path.name}: the last USER is {users[-1]}: run as 10001 (non-root, above 10000)"
    )
    assert any(word == "HEALTHCHECK" for word, _ in ins), f"{path.name}: add a HEALTHCHECK"
    entry = [args for word, args in ins if word == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1])[0] == "itscam", f'{path.name}: ENTRYPOINT must be ["itscam"]'


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_installs_are_pinned(path: Path) -> None:
    runs = " ".join(args for word, args in instructions(path) if word == "RUN")
    for cmd in re.findall(r"pip install ([^&]*)", runs):
        assert "--constraint" in cmd or re.search(r"\S+==\S+", cmd), (
            f"{path.name}: `pip install {cmd.strip()}` is not pinned: pin it or pass --constraint constraints.txt"
        )
    if path.name == "Dockerfile.gpu":
        assert "[gpu]" in runs, "Dockerfile.gpu must install the project with its `gpu` extra (TensorRT)"


@pytest.mark.parametrize("name", ["constraints.txt", "constraints-gpu.txt"])
def test_constraints_are_exact(name: str) -> None:
    lines = [ln.strip() for ln in (DOCKER_DIR / name).read_text().splitlines()]
    loose = [ln for ln in lines if ln and not ln.startswith("#") and not re.fullmatch(r"[\w.\-\[\]]+==[\w.\-+]+", ln)]
    assert not loose, f"deploy/docker/{name}: {loose} are not exact pins (name==version)"
