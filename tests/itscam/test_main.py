import subprocess
import sys

import pytest

from itscam.main import build_parser

SUBCOMMANDS = [
    "stack",
    "export",
    "topics",
    "db",
    "cameras",
    "ingest",
    "inference",
    "analytics",
    "projector",
    "rebuild",
    "api",
    "keys",
    "demo",
    "model",
    "bench",
    "chaos",
    "k8s",
    "plan",
    "secrets",
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "itscam", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_every_subcommand_is_registered() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(SUBCOMMANDS)  # type: ignore[arg-type]


@pytest.mark.parametrize("cmd", ["", *SUBCOMMANDS])
def test_help(cmd: str) -> None:
    res = _run(*([cmd] if cmd else []), "--help")
    assert res.returncode == 0 and "usage: itscam" in res.stdout


def test_missing_model_fails_at_startup_naming_path_and_fix() -> None:
    res = _run("inference", "--model-path", "/no/such/yolo11n.onnx", "--metrics-port", "0")
    assert res.returncode == 2
    assert "/no/such/yolo11n.onnx" in res.stderr and "ITS_INFERENCE_MODEL_PATH" in res.stderr
    assert "Traceback" not in res.stderr
