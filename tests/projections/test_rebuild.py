"""`itscam rebuild`: replaying the topics into a fresh schema and swapping it in gives the same read models, and a
live projector running through the swap is fenced, re-seeks and carries on."""

import os
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from deploy.stack.settings import StackSettings, repo_root
from projections import Projector
from projections import rebuild as rebuild_module
from projections.rebuild import rebuild
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


def _schemas(dsn: str, like: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (like,))]


def test_rebuild_swaps_in_equal_tables_under_a_live_projector(
    bootstrap: str,
    pg_dsn: str,
    stack: StackSettings,
    make_topic: Callable[..., str],
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topics = make_topics(make_topic, 2)
    dlq = make_topic("dlq", 1)
    group = f"g-{unique}"
    produce_records(bootstrap, topics, mixed_stream([f"cam-{unique}-{i}" for i in range(3)], 60))
    with scratch_schema(pg_dsn, "live") as live_schema, scratch_schema(pg_dsn, "fresh") as fresh_schema:
        s = settings_for(
            bootstrap, pg_dsn, stack.redis_url, topics, dlq, group, live_schema, max_batch=50, fence_check_s=1.0
        )
        live = Projector(s)
        t = threading.Thread(target=live.run)
        t.start()
        try:
            end = end_offsets(bootstrap, topics)
            wait_until(lambda: offsets_total(pg_dsn, live_schema, group) >= end, 60, "the live projection")
            before = snapshot(pg_dsn, live_schema, group)
            # More events between the replay and the swap: the live projector writes them into the tables about to
            # be swapped out, so after the swap the stored offsets are not the ones it expects: it is fenced and
            # re-seeks to the rebuilt offsets (and projects those events again, into the new tables).
            real_replay = rebuild_module.replay_into

            def replay_then_produce(*args: Any, **kwargs: Any) -> None:
                real_replay(*args, **kwargs)
                produce_records(bootstrap, topics, mixed_stream([f"cam-{unique}-b{i}" for i in range(2)], 40))
                end = end_offsets(bootstrap, topics)
                wait_until(lambda: offsets_total(pg_dsn, live_schema, group) >= end, 60, "live before the swap")

            monkeypatch.setattr(rebuild_module, "replay_into", replay_then_produce)
            res = rebuild(s, target_schema=live_schema, progress=False, rebuild_redis=True)
            assert res.events > 0 and res.target_schema == live_schema
            assert _schemas(pg_dsn, res.rebuild_schema) == [] and _schemas(pg_dsn, res.old_schema) == []
            end = end_offsets(bootstrap, topics)
            wait_until(lambda: offsets_total(pg_dsn, live_schema, group) >= end, 60, "the live projector to catch up")
            assert "re-seeked to the stored offsets" in caplog.text  # fenced by the swap
            produce_records(bootstrap, topics, mixed_stream([f"cam-{unique}-c0"], 30))
            end = end_offsets(bootstrap, topics)
            wait_until(lambda: offsets_total(pg_dsn, live_schema, group) >= end, 60, "projection after the swap")
        finally:
            live.stop()
            t.join(30)
        after = snapshot(pg_dsn, live_schema, group)
        assert {r[0] for r in before["cameras"]} < {r[0] for r in after["cameras"]}

        fresh = settings_for(bootstrap, pg_dsn, stack.redis_url, topics, dlq, group, fresh_schema, update_redis=False)
        Projector(fresh).run(idle_exit_s=3.0)
        assert snapshot(pg_dsn, fresh_schema, group) == after


def test_itscam_rebuild_cli_replays_only_the_given_topics(
    bootstrap: str, pg_dsn: str, stack: StackSettings, make_topic: Callable[..., str], unique: str
) -> None:
    topics = make_topics(make_topic, 2)
    group = f"g-{unique}"
    produce_records(bootstrap, topics, mixed_stream([f"cam-{unique}"], 40))
    with scratch_schema(pg_dsn, "cli") as schema:
        flags = [f"--{KIND_FIELDS[k].replace('_', '-')}={t}" for k, t in topics.items()]
        env = {**os.environ, "ITS_KAFKA_BOOTSTRAP": bootstrap, "ITS_PG_DSN": pg_dsn, "ITS_REDIS_URL": stack.redis_url}
        out = subprocess.run(
            [
                str(repo_root() / ".venv/bin/itscam"),
                "rebuild",
                f"--target-schema={schema}",
                f"--group-id={group}",
                f"--only-topics={topics['DetectionsProduced']},{topics['VehicleCounted']}",
                "--no-progress",
                *flags,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"swapped into {schema}" in out
        snap = snapshot(pg_dsn, schema, group)
        assert snap["frames"] and snap["vehicle_events"]
        assert not snap["incidents"] and not snap["camera_status"]  # not replayed
        assert {r[1] for r in snap["projection_offsets"]} == {topics["DetectionsProduced"], topics["VehicleCounted"]}
