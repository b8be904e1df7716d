"""The chaos run's result: the JSON (`faults_injected`, `events_checked`, `lost`, `duplicated`, `recovery_s` and
the details behind them) and the table printed from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.chaos.compare import Diff
from bench.chaos.faults import Fault
from bench.chaos.plan import FAULT_KINDS, ChaosPlan

__all__ = ["failed", "format_table", "summarise"]


def _pct(xs: Sequence[float]) -> dict[str, float | None]:
    if not xs:
        return {"p50": None, "p95": None, "max": None}
    a = np.asarray(xs, dtype=float)
    return {
        "p50": round(float(np.percentile(a, 50)), 2),
        "p95": round(float(np.percentile(a, 95)), 2),
        "max": round(float(a.max()), 2),
    }


def summarise(
    plan: ChaosPlan,
    faults: list[Fault],
    diff: Diff,
    redis_diff: list[dict[str, Any]],
    dlq: dict[str, Any],
    lag: dict[str, int],
    crashes: list[dict[str, object]],
    wall_s: float,
    logs: str,
) -> dict[str, Any]:
    injected = {k: sum(1 for f in faults if f.kind == k and f.injected_at) for k in FAULT_KINDS}
    recovery = {
        k: _pct([f.recovered_s for f in faults if f.kind == k and f.recovered_s is not None]) for k in FAULT_KINDS
    }
    not_recovered = [
        f.kind for f in faults if f.injected_at and f.recovered_s is None and not f.detail.startswith("no ")
    ]
    poison_lost = sum(m["expected"] - m["dead_letters"] for m in dlq["missing"])
    poison_doubled = sum(d["times"] - 1 for d in dlq["doubled"])
    return {
        "faults_injected": injected,
        "events_checked": diff.checked,
        "lost": diff.lost + poison_lost,
        "duplicated": diff.duplicated + poison_doubled,
        "recovery_s": recovery,
        "not_recovered": not_recovered,
        "tables": diff.per_table,
        "mismatches": diff.mismatches,
        "redis_mismatches": redis_diff,
        "dlq": dlq,
        "lag_after": lag,
        "faults": [
            {"at_s": f.at_s, "kind": f.kind, "target": f.target, "recovered_s": f.recovered_s, "detail": f.detail}
            for f in faults
        ],
        "stage_crashes": crashes,
        "plan": {
            "cameras": plan.per_clip * 2,
            "frames_per_camera": plan.frames,
            "fps": plan.fps,
            "feed_s": plan.feed_s,
            "seed": plan.seed,
            "imgsz": plan.imgsz,
        },
        "wall_s": round(wall_s, 1),
        "logs": logs,
    }


def failed(res: dict[str, Any]) -> list[str]:
    """Why the run fails (empty: it passed)."""
    why = []
    if res["lost"] or res["duplicated"]:
        why.append(f"{res['lost']} lost, {res['duplicated']} duplicated")
    if res["redis_mismatches"]:
        why.append(f"Redis counters differ from PostgreSQL for {len(res['redis_mismatches'])} camera(s)")
    if any(res["lag_after"].values()):
        why.append(f"consumer lag left: {res['lag_after']}")
    if res["not_recovered"]:
        why.append(f"not recovered: {res['not_recovered']}")
    return why


def format_table(res: dict[str, Any]) -> str:
    lines = [f"{'fault':18} {'injected':>8} {'P50 s':>7} {'P95 s':>7} {'max s':>7}"]
    for k in FAULT_KINDS:
        r = res["recovery_s"][k]

        def f(v: float | None) -> str:
            return "-" if v is None else f"{v:.1f}"

        lines.append(f"{k:18} {res['faults_injected'][k]:8d} {f(r['p50']):>7} {f(r['p95']):>7} {f(r['max']):>7}")
    lines.append(f"{'total':18} {sum(res['faults_injected'].values()):8d}")
    lines.append("")
    lines.append(f"events checked {res['events_checked']}  lost {res['lost']}  duplicated {res['duplicated']}")
    d = res["dlq"]
    lines.append(
        f"poison records {d['poison']}: dead-lettered {d['dead_letters']} letters, missing {len(d['missing'])}, "
        f"doubled {len(d['doubled'])}, other dead letters {d['other_count']}"
    )
    lines.append(f"Redis counters equal PostgreSQL: {'yes' if not res['redis_mismatches'] else 'NO'}")
    lines.append(f"consumer lag after: {sum(res['lag_after'].values())} records")
    crashes = res["stage_crashes"]
    lines.append(
        f"stages that crashed by themselves (restarted): {len(crashes)}"
        + (f" ({', '.join(sorted({str(c['stage']) for c in crashes}))})" if crashes else "")
    )
    lines.append(f"wall time {res['wall_s']:.1f} s")
    return "\n".join(lines)
