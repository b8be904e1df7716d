"""CSV and Parquet answers of counts, movements, stats and vehicle events, from the real API process over the real
PostgreSQL: every export carries the same numbers as the JSON answer to the same query."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest

from projections.api import ApiSettings
from tests.projections.api.conftest import (
    DAY,
    add_camera,
    add_counts,
    add_vehicle_events,
    api_env,
    count_rows,
    free_port,
    is_problem,
    running_api,
)

pytestmark = pytest.mark.integration

RANGE = {"from": "2026-01-04T00:00:00Z", "to": "2026-01-07T00:00:00Z"}
PARQUET = "application/vnd.apache.parquet"


@pytest.fixture
def api(server: str, make_key: Callable[..., str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {make_key('read')}"}, timeout=60) as c:
        yield c


def get_csv(api: httpx.Client, path: str, params: dict[str, str], accept: bool = False) -> list[dict[str, str]]:
    """The CSV answer (asked by ?format=csv, or by Accept), checked as a download; its rows as dicts."""
    r = (
        api.get(path, params=params, headers={"Accept": "text/csv"})
        if accept
        else api.get(path, params={**params, "format": "csv"})
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="')
    assert r.headers["content-disposition"].endswith('.csv"')
    return list(csv.DictReader(io.StringIO(r.text)))


def get_parquet(api: httpx.Client, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """The Parquet answer's rows, times written back as the JSON and CSV answers write them."""
    r = api.get(path, params={**params, "format": "parquet"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == PARQUET and r.headers["content-disposition"].endswith('.parquet"')
    rows = pq.read_table(io.BytesIO(r.content)).to_pylist()
    return [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]


def as_csv(value: Any) -> str:
    """A JSON value as the CSV writes it."""
    return "" if value is None else str(value)


def same_rows(csv_rows: list[dict[str, str]], parquet_rows: list[dict[str, Any]]) -> None:
    assert [list(r) for r in parquet_rows[:1]] == [list(r) for r in csv_rows[:1]]
    assert [{k: as_csv(v) for k, v in r.items()} for r in parquet_rows] == csv_rows


# -- counts ---------------------------------------------------------------------------------------------------------
def counts_from_rows(rows: list[dict[str, str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The JSON answer's buckets and totals, summed up from the export's long rows."""

    def doc() -> dict[str, Any]:
        return {"vehicles": 0, "IN": 0, "OUT": 0, "by_class": defaultdict(int), "lines": {}, "_s": [0.0, 0]}

    def add(d: dict[str, Any], r: dict[str, str]) -> None:
        n, k = int(r["vehicles"]), int(r["speed_samples"])
        s = float(r["mean_speed_kmh"]) * k if r["mean_speed_kmh"] else 0.0
        line = d["lines"].setdefault(r["line_id"], {**doc(), "lines": None})
        for x in (d, line):
            x["vehicles"] += n
            x[r["direction"]] += n
            x["by_class"][r["class_name"]] += n
            x["_s"][0] += s
            x["_s"][1] += k

    def plain(d: dict[str, Any], mean: bool) -> dict[str, Any]:
        s, k = d.pop("_s")
        d["by_class"] = dict(sorted(d["by_class"].items()))
        if mean:
            d["mean_speed_kmh"] = round(s / k, 2) if k else None
        if d["lines"] is None:
            del d["lines"]
        else:
            d["lines"] = {lid: plain(line, True) for lid, line in sorted(d["lines"].items())}
        return d

    per: dict[str, dict[str, Any]] = {}
    totals = doc()
    for r in rows:
        b = per.setdefault(r["bucket_start"], {"start": r["bucket_start"], "end": r["bucket_end"], **doc()})
        add(b, r)
        add(totals, r)
    return [plain(per[k], True) for k in sorted(per)], plain(totals, False)


def test_counts_csv_and_parquet_carry_the_json_numbers(api: httpx.Client, pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    rows = count_rows(cam, 150, DAY + timedelta(hours=23))
    # speeds whose means are not round, and a class without speeds
    rows += [(cam, DAY + timedelta(hours=23, minutes=m), "l9", "bus", "OUT", 3, 151.7, 2) for m in range(0, 90, 7)]
    rows += [(cam, DAY + timedelta(hours=23, minutes=m), "l3", "bicycle", "IN", 1, 0.0, 0) for m in range(0, 90, 11)]
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        add_counts(conn, rows)
    path = f"/v1/cameras/{cam}/counts"
    for params in (
        {"bucket": "15m"},
        {"bucket": "1h", "line_id": "l9"},
        {"bucket": "1d", "class": "bus", "direction": "OUT"},
        {"bucket": "1m", "direction": "IN"},
    ):
        q = {**RANGE, **params}
        want = api.get(path, params=q).json()
        assert want["totals"]["vehicles"] > 0
        got = get_csv(api, path, q)
        assert list(got[0]) == [
            "bucket_start",
            "bucket_end",
            "line_id",
            "direction",
            "class_name",
            "vehicles",
            "speed_samples",
            "mean_speed_kmh",
        ]
        buckets, totals = counts_from_rows(got)
        assert buckets == want["buckets"], params
        assert totals == want["totals"], params
        same_rows(got, get_parquet(api, path, q))
    assert api.get(path, params={**RANGE, "format": "json"}).json() == api.get(path, params=RANGE).json()
    assert get_csv(api, path, RANGE, accept=True) == get_csv(api, path, RANGE)


# -- movements ------------------------------------------------------------------------------------------------------
def add_movement_counts(conn: psycopg.Connection[Any], cam: str, minutes: int) -> None:
    zones = [("z-n", "North"), ("z-e", "East"), ("z-s", "South")]
    with conn.cursor() as cur:
        for i in range(minutes):
            for oi, (o, o_name) in enumerate(zones):
                for di, (d, d_name) in enumerate(zones):
                    for ci, cls in enumerate(("car", "truck")):
                        n = (i + oi + 2 * di + ci) % 4
                        if o != d and n:
                            cur.execute(
                                "INSERT INTO movement_counts_minute VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                                (cam, DAY + timedelta(hours=23, minutes=i), o, d, cls, o_name, d_name, n),
                            )


def movements_from_rows(rows: list[dict[str, str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    def doc() -> dict[str, Any]:
        return {"vehicles": 0, "matrix": defaultdict(lambda: defaultdict(int)), "by_class": defaultdict(int)}

    def plain(d: dict[str, Any]) -> dict[str, Any]:
        d["matrix"] = {o: dict(sorted(x.items())) for o, x in sorted(d["matrix"].items())}
        d["by_class"] = dict(sorted(d["by_class"].items()))
        return d

    per: dict[str, dict[str, Any]] = {}
    totals = doc()
    for r in rows:
        b = per.setdefault(r["bucket_start"], {"start": r["bucket_start"], "end": r["bucket_end"], **doc()})
        for d in (b, totals):
            d["vehicles"] += int(r["vehicles"])
            d["matrix"][r["origin_zone_id"]][r["destination_zone_id"]] += int(r["vehicles"])
            d["by_class"][r["class_name"]] += int(r["vehicles"])
    return [plain(per[k]) for k in sorted(per)], plain(totals)


def test_movements_csv_and_parquet_carry_the_json_numbers(api: httpx.Client, pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        add_movement_counts(conn, cam, 75)
    path = f"/v1/cameras/{cam}/movements"
    for params in ({"bucket": "15m"}, {"bucket": "1h", "class": "truck"}, {"bucket": "1d"}):
        q = {**RANGE, **params}
        want = api.get(path, params=q).json()
        got = get_csv(api, path, q)
        assert got and {(r["origin_zone_id"], r["origin_name"]) for r in got} <= set(want["approaches"].items())
        buckets, totals = movements_from_rows(got)
        assert buckets == want["buckets"] and totals == want["totals"], params
        same_rows(got, get_parquet(api, path, q))


# -- stats and vehicle events: the JSON page's items, row for row -------------------------------------------------
def test_stats_csv_and_parquet_are_the_json_items(api: httpx.Client, pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        for i in range(40):
            at = DAY + timedelta(minutes=i)
            conn.execute(
                "INSERT INTO traffic_stats VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (cam, at, at + timedelta(minutes=1), 600 - i, i % 7, None if i % 4 == 0 else 40 + i / 3, i % 7,
                 0.1 * (i % 5), i % 2, "NEXT_FRAME" if i % 3 else "IDLE_TIMEOUT", i % 5, i % 3, i % 15 == 0),
            )  # fmt: skip
    path = f"/v1/cameras/{cam}/stats"
    items = api.get(path, params={**RANGE, "limit": "1000"}).json()["items"]
    got = get_csv(api, path, RANGE)
    assert len(got) == len(items) == 40
    assert got == [{k: as_csv(item[k]) for k in got[0]} for item in items]
    same_rows(got, get_parquet(api, path, RANGE))


def test_vehicle_events_csv_and_parquet_are_the_json_items(api: httpx.Client, pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        add_vehicle_events(conn, cam, 61)
    path = f"/v1/cameras/{cam}/vehicle-events"
    for filters in ({}, {"direction": "OUT"}, {"line_id": "l1", "class": "car"}):
        q = {**RANGE, **filters}
        items = api.get(path, params={**q, "limit": "1000"}).json()["items"]
        got = get_csv(api, path, q)
        assert items and len(got) == len(items)
        assert got == [{k: as_csv(item[k]) for k in got[0]} for item in items]
        assert list(got[0]) == list(items[0])
        same_rows(got, get_parquet(api, path, q))


# -- refusals -------------------------------------------------------------------------------------------------------
def test_bad_exports_are_problems_before_any_byte(api: httpx.Client, pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    for what in ("counts", "movements", "stats", "vehicle-events"):
        body = is_problem(api.get(f"/v1/cameras/{cam}/{what}", params={"format": "xml"}), 400)
        assert body["invalid_params"] == [{"name": "format", "reason": "unknown value"}]
        assert "'json', 'csv', 'parquet'" in body["detail"] and "'xml'" in body["detail"]
        is_problem(api.get(f"/v1/cameras/nope-{unique}/{what}", params={"format": "csv"}), 404)
        too_long = {"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "format": "parquet"}
        assert is_problem(api.get(f"/v1/cameras/{cam}/{what}", params=too_long), 400)["invalid_params"][0]["name"] == (
            "from"
        )
    empty = api.get(f"/v1/cameras/{cam}/vehicle-events", params={**RANGE, "format": "csv"})
    assert empty.text.splitlines() == [
        "event_id,camera_id,line_id,line_name,track_id,direction,motion,class_name,class_id,confidence,frame_seq,"
        "crossed_at,x,y,speed_kmh"
    ]
    assert pq.read_table(io.BytesIO(api.get(f"/v1/cameras/{cam}/stats", params={"format": "parquet"}).content)) \
        .num_rows == 0  # fmt: skip


def test_clients_that_leave_mid_download_give_their_connection_back(
    api_settings: ApiSettings, make_key: Callable[..., str], pg_dsn: str, unique: str, tmp_path: Path
) -> None:
    """With a pool of 2 connections, downloads abandoned after their first chunk must not keep theirs: the exports
    and JSON answers after them are served."""
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        conn.execute(
            "INSERT INTO vehicle_events SELECT %(cam)s || '-e' || i, %(cam)s, 'l1', '', i, 'IN', 'DOWN', 'car', 2, 0.9,"
            " i, %(day)s + make_interval(secs => i * 0.5), 0.5, 0.5, NULL FROM generate_series(1, 60000) AS i",
            {"cam": cam, "day": DAY},
        )
    env = api_env(api_settings, free_port(), ITS_API_POOL_SIZE="2", ITS_API_POOL_TIMEOUT_S="3")
    path = f"/v1/cameras/{cam}/vehicle-events"
    try:
        with (
            running_api(env, tmp_path / "api.log") as url,
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {make_key('read')}"}, timeout=30) as c,
        ):
            for fmt in ("csv", "parquet", "csv", "parquet", "csv"):
                with c.stream("GET", path, params={**RANGE, "format": fmt}) as r:
                    assert r.status_code == 200
                    next(r.iter_raw())  # the first chunk, then hang up
            time.sleep(0.5)
            for _ in range(3):
                r = c.get(path, params={**RANGE, "format": "csv"})
                assert r.status_code == 200 and r.text.count("\n") == 60001
                assert c.get(path, params=RANGE).status_code == 200
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM vehicle_events WHERE camera_id = %s", (cam,))
