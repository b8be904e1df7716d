"""Schemathesis against the running API (`itscam api` on loopback, an admin key): generated requests for every
operation of /openapi.json must never get a 5xx, an undocumented status or a body that breaks the document.

The camera-command operations are included (they append to this test's own cameras topic). /v1/stream is left
out: it is an endless response, which a request/response fuzzer cannot read to its end; test_stream covers it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import redis

from deploy.stack.settings import StackSettings
from tests.projections.api.conftest import (
    DAY,
    add_camera,
    add_counts,
    add_status,
    add_vehicle_events,
    count_rows,
    set_live,
)

pytestmark = pytest.mark.integration

MIN_CASES = 500


def test_generated_requests_find_no_server_error_or_spec_violation(
    server: str, make_key: Callable[..., str], pg_dsn: str, stack: StackSettings, unique: str, tmp_path: Path
) -> None:
    cams = [f"cam-{unique}-{i}" for i in range(3)]
    with psycopg.connect(pg_dsn) as conn:
        for i, cam in enumerate(cams):
            add_camera(conn, cam)
            add_counts(conn, count_rows(cam, 30))
            add_vehicle_events(conn, cam, 12)
            if i == 0:
                add_status(conn, cam)
            conn.execute(
                "INSERT INTO incidents (incident_id, camera_id, type, state, started_at, detail)"
                " VALUES (%s, %s, 'CONGESTION', 'OPEN', %s, 'slow')",
                (f"{cam}-inc", cam, DAY),
            )
    set_live(redis.Redis.from_url(stack.redis_url), cams[0], DAY, datetime.now(UTC).date().isoformat())
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[dictionaries.cameras]\nvalues = " + json.dumps(cams) + "\n"
        "[dictionaries.incidents]\nvalues = " + json.dumps([f"{c}-inc" for c in cams]) + "\n"
        "[parameters]\n"
        '"path.camera_id" = { dictionary = "cameras", probability = 0.6 }\n'
        '"query.camera_id" = { dictionary = "cameras", probability = 0.5 }\n'
        '"path.incident_id" = { dictionary = "incidents", probability = 0.6 }\n'
    )
    report = tmp_path / "report.json"
    st = Path(sys.executable).with_name("st")
    proc = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            f"{server}/openapi.json",
            "-H",
            f"Authorization: Bearer {make_key('admin')}",
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
            "--exclude-path",
            "/v1/stream",
            "--max-examples",
            "40",
            "--workers",
            "2",
            "--no-shrink",
            "--request-timeout",
            "30",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    summary = json.loads(report.read_text())
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0 and summary["failures"] == [] and summary["errors"] == [], tail
    cases = summary["test_cases"]
    print(
        f"schemathesis: {cases['generated']} cases over {summary['operations']['tested']} operations, "
        f"seed {summary['seed']}"
    )
    assert cases["generated"] >= MIN_CASES and cases["with_failures"] == 0, cases
    assert summary["operations"]["tested"] == summary["operations"]["selected"] >= 18
