"""`itscam demo`'s figures, read back from the API with the demo's read key: vehicles per line x direction x class
beside the clip's hand count, speeds, 1-minute statistics, incidents and per-stage throughput; printed, and the
same figures for the JSON summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from itscam.demo_camera import EXAMPLE_LINE, GT_LINE_ID, HandCount
from itscam.errors import CliError

if TYPE_CHECKING:
    import httpx

__all__ = ["Api", "no_line_hint", "page_link", "print_report", "read_back", "summary_fields", "throughput"]

DIRECTIONS = ("IN", "OUT")


@dataclass(frozen=True)
class Api:
    """The API the demo reads its figures from, with the demo's key."""

    url: str
    token: str

    def get(self, path: str, **params: Any) -> httpx.Response:
        import httpx

        return httpx.get(
            f"{self.url}{path}", params=params, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def json(self, path: str, **params: Any) -> Any:
        r = self.get(path, **params)
        if r.status_code != 200:
            raise CliError(f"GET {self.url}{path} answered {r.status_code}: {r.text[:300]}")
        return r.json()


def page_link(api: Api, camera_id: str) -> str:
    """The analyst page, opened on this camera."""
    return f"{api.url}/ui#key={api.token}&camera={quote(camera_id, safe='')}"


def read_back(api: Api, cam: str) -> dict[str, Any]:
    """Everything the report shows about camera `cam`, from the API."""
    camdoc = api.json(f"/v1/cameras/{quote(cam, safe='')}")
    base = f"/v1/cameras/{quote(cam, safe='')}"
    cfg = camdoc.get("config") or {}
    configured = {ln["line_id"]: ln for ln in cfg.get("lines") or []}
    lines = _line_counts(api, base, list(configured))
    events = _pages(api, f"{base}/vehicle-events")
    for line_id, doc in lines.items():
        motions = Counter(str(e["motion"]).lower() for e in events if e["line_id"] == line_id)
        doc["by_motion"] = dict(sorted(motions.items()))
    return {
        "camera": camdoc,
        "lines": lines,
        "line_config": configured,
        "events": events,
        "stats": _pages(api, f"{base}/stats"),
        "incidents": _pages(api, "/v1/incidents", camera_id=cam),
        "calibrated": cfg.get("calibration") is not None,
    }


def _pages(api: Api, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        doc = api.json(path, limit=1000, **params, **({"cursor": cursor} if cursor else {}))
        items += doc["items"]
        cursor = doc.get("next_cursor")
        if not cursor:
            return items


def _line_counts(api: Api, path: str, line_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per line: total, by direction, by class, by direction and class, mean speed (over the default range)."""
    counts = f"{path}/counts"
    totals = api.json(counts, bucket="1h")["totals"]
    out: dict[str, dict[str, Any]] = {}
    if "lines" in totals:
        per_dir = {d: api.json(counts, bucket="1h", direction=d)["totals"]["lines"] for d in DIRECTIONS}
        for lid in sorted(set(line_ids) | set(totals["lines"])):
            doc = totals["lines"].get(lid, {})
            out[lid] = {
                "total": doc.get("vehicles", 0),
                "by_direction": {d: doc.get(d, 0) for d in DIRECTIONS},
                "by_class": doc.get("by_class", {}),
                "by_direction_class": {d: per_dir[d].get(lid, {}).get("by_class", {}) for d in DIRECTIONS},
                "mean_speed_kmh": doc.get("mean_speed_kmh"),
            }
        return out
    # An API without per-line totals: one filtered query per line and direction.
    for lid in line_ids:
        per = {d: api.json(counts, bucket="1h", line_id=lid, direction=d)["totals"]["by_class"] for d in DIRECTIONS}
        by_class: Counter[str] = Counter()
        for d in DIRECTIONS:
            by_class.update(per[d])
        out[lid] = {
            "total": sum(by_class.values()),
            "by_direction": {d: sum(per[d].values()) for d in DIRECTIONS},
            "by_class": dict(sorted(by_class.items())),
            "by_direction_class": per,
            "mean_speed_kmh": None,
        }
    return out


def _span_rate(n: int, first: str | None, last: str | None) -> float | None:
    """n events spread from `first` to `last` (ISO times): (n - 1) intervals over the span."""
    if n < 2 or not first or not last:
        return None
    span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return (n - 1) / span if span > 0 else None


def _delta(before: dict[str, float] | None, after: dict[str, float] | None, prefix: str) -> float:
    """How much the samples named `prefix` (any labels) grew between two scrapes."""

    def total(s: dict[str, float] | None) -> float:
        return sum(v for k, v in (s or {}).items() if k == prefix or k.startswith(prefix + "{"))

    return total(after) - total(before)


def throughput(
    api: Api,
    cam: str,
    produced: dict[str, Any],
    report: dict[str, Any],
    before: dict[str, dict[str, float] | None],
    after: dict[str, dict[str, float] | None],
) -> dict[str, float | None]:
    """Frames (events) per second of each stage over this run, from what each stage itself records:

    ingest: frames over the span of their captured_at (ingest's clock as it sampled them; files are read as fast as
        the encoder takes frames);
    inference: frames over the span of their produced_at (the stage's clock as it produced their detections, kept
        with each frame in the read model): it is the slowest stage, so this is also the pipeline's pace;
    analytics: detection events applied over the seconds the stage spent applying them (its own counters
        its_analytics_frames_total and its_analytics_process_seconds, change over the run): its rate when busy, it
        waits on inference otherwise;
    projector: events written (detection events from its_projector_frames_total, plus this camera's vehicle events,
        statistics windows and incidents read back) over the seconds it spent writing batches
        (its_projector_batch_seconds): its rate when busy.
    """
    base = f"/v1/cameras/{quote(cam, safe='')}/detections"
    first = api.json(base, frame_seq=0, limit=1)["items"]  # one-shot ingest numbers frames from 0
    last = api.json(base, limit=1)["items"]
    n = int(produced["frames"])
    inference = _span_rate(n, first[0]["produced_at"], last[0]["produced_at"]) if first and last else None
    an_busy = _delta(before.get("analytics"), after.get("analytics"), "its_analytics_process_seconds_sum")
    an_frames = _delta(before.get("analytics"), after.get("analytics"), "its_analytics_frames_total")
    pr_busy = _delta(before.get("projector"), after.get("projector"), "its_projector_batch_seconds_sum")
    pr_events = _delta(before.get("projector"), after.get("projector"), "its_projector_frames_total")
    pr_events += len(report["events"]) + len(report["stats"]) + len(report["incidents"])

    def rnd(v: float | None) -> float | None:
        return round(v, 1) if v is not None else None

    return {
        "ingest_fps": rnd(_span_rate(n, produced.get("first_captured_at"), produced.get("last_captured_at"))),
        "inference_fps": rnd(inference),
        "analytics_fps": rnd(an_frames / an_busy) if an_busy > 0 else None,
        "projector_events_per_s": rnd(pr_events / pr_busy) if pr_busy > 0 else None,
    }


def _in_motion(line: dict[str, Any]) -> str:
    """The image motion a mostly horizontal (vertical) line counts IN: down or up (right or left)."""
    from itscam.demo_camera import in_direction

    x1, y1, x2, y2 = line["x1"], line["y1"], line["x2"], line["y2"]
    options = ("down", "up") if abs(x2 - x1) >= abs(y2 - y1) else ("right", "left")
    return next(m for m in options if in_direction(x1, y1, x2, y2, m) == line.get("in_direction", "LEFT_TO_RIGHT"))


def _fmt(v: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}{unit}"


def _print_lines(report: dict[str, Any], hand: HandCount | None) -> None:
    lines: dict[str, dict[str, Any]] = report["lines"]
    print("\nvehicles counted per line (read back from the API):")
    for lid, doc in lines.items():
        cfg = report["line_config"].get(lid)
        where = f' "{cfg.get("name") or lid}", IN = {_in_motion(cfg)}' if cfg else " (no longer configured)"
        print(f"  line {lid}{where}")
        classes = sorted(doc["by_class"]) or ["car"]
        width = max(len(c) for c in classes)
        print("    direction  " + "  ".join(f"{c:>{width}}" for c in classes) + "  total")
        for d in DIRECTIONS:
            row = doc["by_direction_class"].get(d, {})
            cells = "  ".join(f"{row.get(c, 0):>{width}}" for c in classes)
            print(f"    {d:<9}  {cells}  {doc['by_direction'].get(d, 0):>5}")
        motion = ", ".join(f"{m} {n}" for m, n in doc["by_motion"].items()) or "none"
        if hand is not None and lid == GT_LINE_ID:
            hand_motion = ", ".join(f"{m} {n}" for m, n in hand.by_direction.items())
            print(f"    {doc['total']} counted, hand count {hand.total}")
            print(f"    by motion: {motion}; hand count by motion: {hand_motion}")
        else:
            print(f"    {doc['total']} counted (by motion: {motion})")


def _print_speeds(report: dict[str, Any]) -> None:
    if not report["calibrated"]:
        print("\nspeeds: camera not calibrated — add a calibration (page: Calibrate) to get km/h")
        return
    speeds = [e["speed_kmh"] for e in report["events"] if e.get("speed_kmh") is not None]
    per_line = ", ".join(f"{lid} {_fmt(d['mean_speed_kmh'], ' km/h')}" for lid, d in report["lines"].items())
    if not speeds:
        print(f"\nspeeds: calibrated, but no counted vehicle had a speed yet (per line mean: {per_line or 'n/a'})")
        return
    print(
        f"\nspeeds: {len(speeds)} vehicles, mean {sum(speeds) / len(speeds):.1f} km/h, min {min(speeds):.1f}, "
        f"max {max(speeds):.1f} (per line mean: {per_line})"
    )


def _clock(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M:%S") if iso else "-"


def _print_stats(report: dict[str, Any]) -> None:
    windows = report["stats"]
    if not windows:
        print(
            "\n1-minute statistics: no window written yet; a window is written when the next minute starts or the "
            "camera stops"
        )
        return
    print("\n1-minute statistics (UTC):")
    for w in windows:
        print(
            f"  {_clock(w['window_start'])}-{_clock(w['window_end'])}  frames {w['frames']}"
            f"  vehicles tracked {w['vehicles']} (every class, whole picture)"
            f"  mean speed {_fmt(w['mean_speed_kmh'], ' km/h')}  occupancy {w['mean_occupancy']:.1%}"
            f"  (closed by {w['closed_by']})"
        )


def _print_incidents(report: dict[str, Any]) -> None:
    incidents = report["incidents"]
    if not incidents:
        print("incidents: none")
        return
    print("incidents:")
    for i in sorted(incidents, key=lambda i: i["started_at"]):
        print(f"  {i['type']:<16} {_clock(i['started_at'])} UTC  {i['state'].lower():<6} {i['detail']}")


def print_report(report: dict[str, Any], hand: HandCount | None, rates: dict[str, float | None] | None) -> None:
    if report["lines"]:
        _print_lines(report, hand)
    _print_speeds(report)
    _print_stats(report)
    _print_incidents(report)
    if rates is None:
        return
    print(
        f"throughput: ingest {_fmt(rates['ingest_fps'])} frames/s, inference {_fmt(rates['inference_fps'])} "
        f"frames/s, analytics {_fmt(rates['analytics_fps'])} frames/s (busy time), projector "
        f"{_fmt(rates['projector_events_per_s'])} events/s (busy time)",
        flush=True,
    )


def no_line_hint(source: str, cam: str, api_url: str) -> str:
    """How to count vehicles on a source that has no counting line."""
    from schemas.credentials import display_url

    source = display_url(source)
    page = f"{api_url}/ui#key=<that key>&camera={quote(cam, safe='')}"
    return (
        f"\nno counting line: {source} is not in ground_truth.json and --lines gave none, so no vehicles are counted. "
        "Give the demo one "
        f"(normalised 0..1, origin top left; IN counts crossings from the left of the directed segment to its right):\n"
        f"  itscam demo --source {source} --lines '[{EXAMPLE_LINE}]'\n"
        f"or, while the camera streams, draw one on the page with a key that may edit cameras "
        f"(itscam keys create --name me --scopes ops): open {page}, tool Line, then Save; or set it with\n"
        f"  itscam cameras update {cam} --lines '[{EXAMPLE_LINE}]'"
    )


def summary_fields(report: dict[str, Any], hand: HandCount | None, rates: dict[str, float | None]) -> dict[str, Any]:
    """The summary's keys for lines, hand count, incidents, statistics, speeds and throughput."""
    speeds = [e["speed_kmh"] for e in report["events"] if e.get("speed_kmh") is not None]
    return {
        "lines": report["lines"],
        "hand_count": hand.total if hand is not None else None,
        "hand_count_by_direction": hand.by_direction if hand is not None else None,
        "incidents": [
            {k: i.get(k) for k in ("type", "state", "started_at", "ended_at", "detail", "line_id", "zone_id")}
            for i in report["incidents"]
        ],
        "stats": [{k: v for k, v in w.items() if k != "camera_id"} for w in report["stats"]],
        "speeds": {
            "calibrated": report["calibrated"],
            "vehicles_with_speed": len(speeds),
            "mean_kmh": round(sum(speeds) / len(speeds), 2) if speeds else None,
            "by_line": {lid: d["mean_speed_kmh"] for lid, d in report["lines"].items()},
        },
        "throughput": rates,
    }
