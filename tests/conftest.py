"""Shared fixtures. Integration tests use the real local stack (`itscam stack up`); nothing is mocked."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from hypothesis import HealthCheck, settings

from deploy.stack.settings import StackSettings, repo_root

# Property tests share two cores with the stack and with worker processes of neighbouring tests: timing is not what
# they check, so no per-example deadline and no "too slow" health check.
settings.register_profile("its", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("its")

# The camera view's fixtures (api, seeded, browser, downloads), shared by the page tests in tests/projections/api.
pytest_plugins = ["tests.projections.api.camera_view"]

SHARED = Path(os.environ.get("ITS_SHARED_DIR") or repo_root().parent / "shared")
MODEL = SHARED / "models" / "yolo11n.onnx"
CLIP = SHARED / "data" / "highway_overpass_720p.mp4"
ASSETS = Path(os.environ.get("ITS_TEST_ASSETS") or repo_root() / ".stack" / "assets")

# issue-18 env: what the test stack's deployables are allowed (set before any settings are read; subprocesses
# inherit it). Security tests build their own stricter settings explicitly.
os.environ.setdefault("ITS_SOURCE_ALLOW_LOOPBACK", "true")  # the test cameras are loopback servers
os.environ.setdefault("ITS_SOURCE_ALLOW_FILES", "true")
os.environ.setdefault(
    "ITS_SOURCE_FILE_DIRS",
    # the sample clips, test assets, temporary clips (tempfile, pytest's tmp_path), and the repository: the API tests
    # register relative paths ("file.mp4"), which resolve under the working directory
    ",".join(str(d) for d in (SHARED, ASSETS, tempfile.gettempdir(), "/tmp", repo_root())),
)
if not os.environ.get("ITS_CAMERA_SEAL_PUBLIC_KEY"):
    # a key pair for this session: the API/CLI seal camera credentials, ingest (subprocesses too) opens them
    from schemas.credentials import generate_keypair

    _seal_private, _seal_public = generate_keypair()
    os.environ["ITS_CAMERA_SEAL_PUBLIC_KEY"] = _seal_public
    os.environ["ITS_INGEST_SEAL_PRIVATE_KEY"] = _seal_private
# end issue-18 env


@pytest.fixture(scope="session")
def stack() -> StackSettings:
    return StackSettings()


@pytest.fixture(scope="session")
def bootstrap(stack: StackSettings) -> str:
    from eventbus.config import check_kafka

    try:
        check_kafka(stack.kafka_bootstrap, timeout=10)
    except ConnectionError as e:
        pytest.fail(f"{e} (integration tests need the local stack: `make test` starts it)")
    return stack.kafka_bootstrap


@pytest.fixture(scope="session")
def pg_dsn(stack: StackSettings) -> str:
    from projections import migrate

    migrate(stack.pg_dsn)
    return stack.pg_dsn


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def make_topic(bootstrap: str) -> Iterator[Callable[..., str]]:
    """Factory: a fresh topic per call, deleted after the test."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    made: list[str] = []

    def make(prefix: str = "t", partitions: int = 3) -> str:
        name = f"test.{prefix}.{uuid.uuid4().hex[:10]}"
        fut = admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=partitions,
                    replication_factor=1,
                    config={"max.message.bytes": str(8 * 1024 * 1024)},
                )
            ]
        )[name]
        fut.result(30)
        made.append(name)
        return name

    yield make
    if made:
        for fut in admin.delete_topics(made, request_timeout=30).values():
            fut.result(30)


@pytest.fixture(scope="session")
def test_image() -> Callable[[str], Path]:
    def get(name: str) -> Path:
        path = ASSETS / name
        if not path.exists():
            pytest.fail(
                f"Test image {path} is missing: `make install` extracts bus.jpg and zidane.jpg from the "
                "ultralytics wheel into .stack/assets (or set ITS_TEST_ASSETS)."
            )
        return path

    return get
