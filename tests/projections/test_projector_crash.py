"""kill -9 of a projector process in the middle of its work, then a restart: the read models equal those of an
uninterrupted projector of the same topics (offsets stored with the rows, compare-and-set, idempotent writes)."""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.stack.settings import StackSettings, repo_root
from projections import Projector
from tests.kafka_helpers import wait_until
from tests.projections.factories import mixed_stream
from tests.projections.readmodels import (
    KIND_FIELDS,
    end_offsets,
    make_topics,
    offsets_total,
    produce_records,
    scratch_schema,
    settings_for,
    snapshot,
)

pytestmark = pytest.mark.integration


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(repo_root() / ".venv/bin/itscam"), "projector"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def test_sigkill_mid_batch_then_restart_gives_the_same_read_models(
    bootstrap: str,
    pg_dsn: str,
    stack: StackSettings,
    make_topic: Callable[..., str],
    unique: str,
    tmp_path: Path,
) -> None:
    topics = make_topics(make_topic, 3)
    dlq = make_topic("dlq", 1)
    group = f"g-{unique}"
    records = mixed_stream([f"cam-{unique}-{i}" for i in range(8)], 400)
    assert len(records) > 3000
    produce_records(bootstrap, topics, records)
    end = end_offsets(bootstrap, topics)
    with scratch_schema(pg_dsn, "a") as a, scratch_schema(pg_dsn, "b") as b:
        Projector(settings_for(bootstrap, pg_dsn, stack.redis_url, topics, dlq, group, a)).run(idle_exit_s=3.0)
        assert offsets_total(pg_dsn, a, group) == end

        env = {
            **os.environ,
            "ITS_KAFKA_BOOTSTRAP": bootstrap,
            "ITS_PG_DSN": pg_dsn,
            "ITS_REDIS_URL": stack.redis_url,
            "ITS_PROJECTOR_PG_SCHEMA": b,
            "ITS_PROJECTOR_GROUP_ID": group,
            "ITS_PROJECTOR_DLQ_TOPIC": dlq,
            "ITS_PROJECTOR_SNAPSHOTS_TOPIC": "",
            "ITS_PROJECTOR_MAX_BATCH": "40",  # many small transactions: the kill lands among them
            "ITS_PROJECTOR_METRICS_PORT": "0",
            **{f"ITS_PROJECTOR_{KIND_FIELDS[k].upper()}": t for k, t in topics.items()},
        }
        log = tmp_path / "projector.log"
        proc = _start(env, log)
        try:
            wait_until(lambda: offsets_total(pg_dsn, b, group) > end // 4, 60, "the projector to be under way")
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL
            killed_at = offsets_total(pg_dsn, b, group)
            assert killed_at < end, "the projector finished before the kill; make the stream longer"

            proc = _start(env, log)
            wait_until(lambda: offsets_total(pg_dsn, b, group) >= end, 120, f"the restarted projector (see {log})")
            time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(30)
        expected = snapshot(pg_dsn, a, group)
        assert all(expected.values()), [t for t, rows in expected.items() if not rows]
        assert snapshot(pg_dsn, b, group) == expected
        print(f"killed at {killed_at} of {end} offsets")
