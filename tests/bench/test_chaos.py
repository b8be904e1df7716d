"""`itscam chaos`: the comparison that decides lost/duplicated catches a corrupted read model, and the short run
(one fault of every kind on its own stack) finds nothing lost or doubled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.chaos import FAULT_KINDS, ChaosPlan, Diff, diff_rows
from bench.chaos.faults import schedule
from bench.chaos.report import failed, format_table
from deploy.stack.settings import repo_root
from tests.conftest import SHARED

_T = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ROWS = [("ev-1", "cam", 1, _T), ("ev-2", "cam", 2, _T), ("ev-3", "cam", 3, _T)]


def test_identical_rows_in_any_order_are_neither_lost_nor_duplicated() -> None:
    lost, dup, n = diff_rows(ROWS, list(reversed(ROWS)))
    assert (sum(lost.values()), sum(dup.values()), n) == (0, 0, 3)


def test_a_missing_row_is_lost_and_a_doubled_row_is_duplicated() -> None:
    lost, dup, _ = diff_rows(ROWS, [ROWS[0], ROWS[2], ROWS[2]])
    assert lost == {ROWS[1]: 1}
    assert dup == {ROWS[2]: 1}


def test_an_aggregate_counted_twice_is_one_lost_and_one_duplicated_row_named_in_the_mismatches() -> None:
    diff = Diff()
    diff.add("vehicle_counts_minute", [("cam", _T, "gt", "car", "IN", 4)], [("cam", _T, "gt", "car", "IN", 5)])
    assert (diff.checked, diff.lost, diff.duplicated) == (1, 1, 1)
    assert {m["kind"] for m in diff.mismatches} == {"lost", "duplicated"}
    assert diff.per_table["vehicle_counts_minute"] == {"rows": 1, "lost": 1, "duplicated": 1}


def test_every_fault_kind_is_scheduled_within_the_feed_and_the_same_for_a_seed() -> None:
    import random

    plan = ChaosPlan("d", "h", fps=4.0, frames=40, per_clip=2, feed_s=45.0, faults_per_kind=2, seed=7)
    a, b = schedule(plan, random.Random(7)), schedule(plan, random.Random(7))
    assert [(f.at_s, f.kind) for f in a] == [(f.at_s, f.kind) for f in b]
    assert sorted({f.kind for f in a}) == sorted(FAULT_KINDS)
    assert all(0 < f.at_s <= 0.8 * plan.feed_s for f in a)
    assert all(f.at_s <= 0.6 * plan.feed_s for f in a if f.kind == "kill_ingest")


def test_a_result_with_anything_lost_doubled_or_left_fails_and_the_table_says_so() -> None:
    res = {
        "faults_injected": dict.fromkeys(FAULT_KINDS, 1),
        "events_checked": 10,
        "lost": 1,
        "duplicated": 0,
        "recovery_s": {k: {"p50": 1.0, "p95": 2.0, "max": 2.0} for k in FAULT_KINDS},
        "not_recovered": [],
        "redis_mismatches": [],
        "lag_after": {"g": 0},
        "dlq": {"poison": 8, "dead_letters": 13, "missing": [], "doubled": [], "other_count": 0},
        "stage_crashes": [],
        "wall_s": 1.0,
    }
    assert failed(res) == ["1 lost, 0 duplicated"]
    table = format_table(res)
    assert "lost 1" in table and "broker_restart" in table
    assert failed(res | {"lost": 0}) == []


@pytest.mark.integration
@pytest.mark.e2e
def test_the_short_chaos_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """The whole pipeline on its own stack (ports 29092/25432/26379, or ITS_CHAOS_*), one fault of every kind."""
    out = tmp_path / "chaos.json"
    env = dict(os.environ, ITS_SHARED_DIR=str(SHARED), PYTHONPATH=str(repo_root()))
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "itscam", "chaos", "--short", "--json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    wall = time.monotonic() - t0
    assert out.exists(), f"no result after {wall:.0f} s:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    got = json.loads(out.read_text())
    assert set(got["faults_injected"]) == set(FAULT_KINDS)
    assert all(n >= 1 for n in got["faults_injected"].values()), got["faults_injected"]
    assert got["events_checked"] > 0
    print(f"{res.stdout[-2500:]}\nitscam chaos --short: {wall:.0f} s wall")
    why = json.dumps({k: got[k] for k in ("tables", "mismatches", "dlq", "stage_crashes")}, indent=1)[:6000]
    assert (got["lost"], got["duplicated"]) == (0, 0), f"{res.stdout[-2500:]}\n{why}"
    assert res.returncode == 0, res.stdout[-4000:]
