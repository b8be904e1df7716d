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
def test_installs_come_from_the_lock(path: Path) -> None:
    """Every `pip install` is pip itself at an exact version, the hash-checked export of uv.lock, or the project's
    own wheel without resolving anything."""
    runs = " ".join(args for word, args in instructions(path) if word == "RUN")
    reqs = "requirements-gpu.txt" if path.name == "Dockerfile.gpu" else "requirements.txt"
    installs = [cmd.strip() for cmd in re.findall(r"pip install ([^&]*)", runs)]
    for cmd in installs:
        pinned = re.fullmatch(r"pip==[\w.]+", cmd)
        locked = cmd.startswith("--require-hashes --no-deps -r deploy/docker/requirements")
        own = cmd.startswith("--no-deps /wheels/its_camera_ai-")
        assert pinned or locked or own, (
            f"{path.name}: `pip install {cmd}` is not from the lock: install with "
            f"--require-hashes --no-deps -r deploy/docker/{reqs} (exported from uv.lock by `make lock`)"
        )
    assert f"--require-hashes --no-deps -r deploy/docker/{reqs}" in installs, f"{path.name} must install {reqs}"


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-gpu.txt"])
def test_image_requirements_are_hashed_pins(name: str) -> None:
    """Each requirement is name==version with at least one sha256 (what `uv export` writes from uv.lock)."""
    text = (DOCKER_DIR / name).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    bad = [e.split()[0] for e in entries if not re.match(r"[\w.\-]+==\S+", e) or "--hash=sha256:" not in e]
    assert entries and not bad, f"deploy/docker/{name}: {bad} are not exact, hashed pins: run `make lock`"
    gpu = {e.split("==")[0] for e in entries} >= {"tensorrt-cu12", "cuda-python"}
    assert gpu == (name == "requirements-gpu.txt"), f"deploy/docker/{name}: the gpu extra belongs only in the GPU file"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_package_of_the_wheel_is_copied_and_imported(path: Path) -> None:
    import tomllib

    pyproject = tomllib.loads((DOCKER_DIR.parents[1] / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    ins = instructions(path)
    copied = {args.split()[-1].removeprefix("./") for word, args in ins if word == "COPY" and "--from" not in args}
    missing = [p for p in packages if p not in copied]
    assert not missing, f"{path.name} does not COPY {missing}: the image's `itscam` would fail to import them"
    check = next((args for word, args in ins if word == "RUN" and "python -c" in args and "import" in args), "")
    unchecked = [p for p in packages if not re.search(rf"\b{p}\b", check.partition("import")[2])]
    assert not unchecked, f"{path.name}: the build's import check leaves out {unchecked}"
