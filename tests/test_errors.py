"""One root error per package, all under ItsCameraError, which `itscam` prints without a traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

from schemas.errors import ItsCameraError

PACKAGES = ("schemas", "eventbus", "streams", "inference", "projections", "deploy", "itscam")
# Not errors but the API's way of answering with problem+json (a Starlette HTTPException the app renders).
RESPONSES = {"projections.api.problems.Problem", "projections.api.limits.BodyTooLarge"}


def _our_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith(".__main__"):  # `python -m itscam`: importing it runs the command line
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                qualified = f"{info.name}.{name}"
                if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                    found[qualified] = obj
    return {name: cls for name, cls in found.items() if name not in RESPONSES}


def test_every_error_we_define_is_under_the_project_root() -> None:
    found = _our_exceptions()
    assert len(found) >= 10, found  # the walk did find the packages' errors
    stray = sorted(name for name, cls in found.items() if not issubclass(cls, ItsCameraError))
    assert not stray, f"{stray}: derive each from its package's root error (schemas.errors.ItsCameraError below it)"


@pytest.mark.parametrize(
    ("module", "root"),
    [
        ("schemas.errors", "SchemaError"),
        ("eventbus.errors", "EventBusError"),
        ("streams.errors", "StreamError"),
        ("inference.errors", "InferenceError"),
        ("projections.errors", "ProjectionError"),
        ("deploy.errors", "DeployError"),
        ("itscam.errors", "CliError"),
    ],
)
def test_each_package_has_one_root(module: str, root: str) -> None:
    package = module.split(".")[0]
    cls = getattr(importlib.import_module(module), root)
    assert cls.__bases__ == (ItsCameraError,)
    found = _our_exceptions()
    under = {n: c for n, c in found.items() if n.startswith(f"{package}.") and c not in (cls, ItsCameraError)}
    assert under, f"no errors found in {package}"
    outside = sorted(n for n, c in under.items() if not issubclass(c, cls))
    assert not outside, f"{outside}: derive from {root}, the root error of {package}"


def test_the_cli_prints_any_project_error_without_a_traceback() -> None:
    # a PlanError (deploy's root) raised deep in `itscam plan`, as a user would trigger it
    res = subprocess.run(
        [sys.executable, "-m", "itscam", "plan", "--cameras", "0", "--fps", "10", "--gpu", "t4"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2, res
    assert "--cameras must be a whole number" in res.stderr and "Traceback" not in res.stderr
