"""`itscam export` reads PostgreSQL directly and writes the bytes the API answers for the same query."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest

from itscam import export as cli
from projections import exports, queries
from tests.projections.api.conftest import (  # noqa: F401  (fixtures)
    DAY,
    add_camera,
    add_counts,
    add_vehicle_events,
    api_settings,
    count_rows,
    make_key,
    server,
)

RANGE = ["--from", "2026-01-05T00:00:00Z", "--to", "2026-01-07T00:00:00Z"]


def itscam_export(pg_dsn: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "itscam", "export", *args],
        capture_output=True,
        timeout=120,
        env={**os.environ, "ITS_PG_DSN": pg_dsn},
        check=False,
    )


def test_the_command_line_knows_every_export() -> None:
    assert cli._WHATS == exports.WHATS and cli._FORMATS == exports.FORMATS
    assert tuple(queries.BUCKETS) == cli._BUCKETS


@pytest.mark.integration
def test_csv_is_the_apis_csv_and_parquet_reads_back(
    server: str,  # noqa: F811  (the API tests' fixtures)
    make_key: Callable[..., str],  # noqa: F811
    pg_dsn: str,
    unique: str,
) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
        add_counts(conn, count_rows(cam, 150, DAY + timedelta(hours=23)))
        add_vehicle_events(conn, cam, 30)
    headers = {"Authorization": f"Bearer {make_key('read')}"}
    rng = {"from": "2026-01-05T00:00:00Z", "to": "2026-01-07T00:00:00Z"}
    for what, flags, params in [
        ("counts", ["--bucket", "15m"], {"bucket": "15m"}),
        ("counts", ["--bucket", "1h", "--line-id", "l2", "--class", "truck"], {"line_id": "l2", "class": "truck"}),
        ("vehicle-events", ["--direction", "OUT"], {"direction": "OUT"}),
        ("stats", [], {}),
    ]:
        res = itscam_export(pg_dsn, what, "--camera", cam, *RANGE, *flags, "--format", "csv")
        assert res.returncode == 0, res.stderr
        want = httpx.get(
            f"{server}/v1/cameras/{cam}/{what}", params={**rng, **params, "format": "csv"}, headers=headers
        )
        assert res.stdout == want.content and res.stdout.startswith(b",".join(
            n.encode() for n in exports.EXPORTS[what].names
        ))  # fmt: skip
    res = itscam_export(pg_dsn, "counts", "--camera", cam, *RANGE, "--bucket", "15m", "--format", "parquet")
    assert res.returncode == 0, res.stderr
    table = pq.read_table(io.BytesIO(res.stdout))
    assert table.column_names == exports.EXPORTS["counts"].names
    assert sum(table.column("vehicles").to_pylist()) == sum(r[5] for r in count_rows(cam, 150))


@pytest.mark.integration
def test_refusals_name_the_fix(pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    for args, words in [
        (["counts", "--camera", f"nope-{unique}"], ["No camera", "itscam cameras list"]),
        (["counts", "--camera", cam, "--from", "yesterday"], ["--from", "ISO 8601"]),
        (["counts", "--camera", cam, "--format", "xlsx"], ["--format", "csv", "parquet", "xlsx"]),
        (["stats", "--camera", cam, "--from", "2025-01-01", "--to", "2026-01-01"], ["longer than 31 days"]),
        (["stats", "--camera", cam, "--from", "2026-01-02", "--to", "2026-01-01"], ["before --to"]),
    ]:
        res = itscam_export(pg_dsn, *args)
        err = res.stderr.decode()
        assert res.returncode == 2 and res.stdout == b"" and "Traceback" not in err, err
        assert all(w in err for w in words), err
    # the default range is the last day: an empty export is its header alone
    res = itscam_export(pg_dsn, "movements", "--camera", cam)
    assert res.returncode == 0 and res.stdout == b",".join(n.encode() for n in exports.EXPORTS["movements"].names) + (
        b"\r\n"
    )


def test_the_command_offers_exactly_what_projections_exports() -> None:
    # itscam/export.py spells these out so `itscam` starts without importing pyarrow; they must not drift
    from itscam import export
    from projections import exports, queries

    assert export._WHATS == exports.WHATS
    assert tuple(queries.BUCKETS) == export._BUCKETS
    assert export._FORMATS == exports.FORMATS
