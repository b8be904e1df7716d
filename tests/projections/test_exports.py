"""projections.exports: the encoders (CSV round-trips any text; Parquet leaves each row group as it fills) and the
movements SQL against the JSON answer's query on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections import exports
from projections.db import connect
from projections.queries import BUCKETS
from projections.queries_movements import movements

T0 = datetime(2026, 1, 5, tzinfo=UTC)


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
            st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
            st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        ),
        max_size=20,
    )
)
def test_csv_round_trips_any_text_and_number(rows: list[tuple[str, float | None, int | None]]) -> None:
    ex = exports.Export("t", exports._cols("s:text f:float i:int"), (), "")
    enc = exports.CsvEncoder(ex)
    body = enc.start() + enc.rows(rows) + enc.finish()
    back = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert back[0] == ["s", "f", "i"]
    formula = ("=", "+", "-", "@", "\t", "\r")  # text like that gets a leading ' (CSV injection)
    want = [
        ["'" + s if s[:1] in formula else s, "" if f is None else repr(f), "" if i is None else str(i)]
        for s, f, i in rows
    ]
    assert back[1:] == want


def test_csv_text_cannot_run_as_a_spreadsheet_formula() -> None:
    ex = exports.Export("t", exports._cols("name:text n:int"), (), "")
    enc = exports.CsvEncoder(ex)
    body = enc.rows([('=HYPERLINK("http://evil","x")', 1), ("-1+1", 2), ("@SUM(A1)", 3), ("North", -4)])
    back = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert back == [['\'=HYPERLINK("http://evil","x")', "1"], ["'-1+1", "2"], ["'@SUM(A1)", "3"], ["North", "-4"]]


def test_parquet_sends_each_row_group_as_it_fills() -> None:
    ex = exports.EXPORTS["vehicle-events"]
    enc = exports.ParquetEncoder(ex)
    rows = [
        (f"e{i}", "cam", "l1", "Main", i, "IN", "DOWN", "car", 2, 0.9, i, T0 + timedelta(seconds=i), 0.5, 0.25,
         None if i % 3 else 42.5)
        for i in range(3 * exports.ROW_GROUP_ROWS + 1000)
    ]  # fmt: skip
    parts = [enc.start()]
    sizes = []
    for k in range(0, len(rows), exports.FETCH_ROWS):
        parts.append(enc.rows(rows[k : k + exports.FETCH_ROWS]))
        sizes.append(len(parts[-1]))
    parts.append(enc.finish())
    # bytes leave once a row group is full, not at the end: three times during the rows, the rest at finish
    assert sum(1 for s in sizes if s) == 3 and all(s > 100_000 for s in sizes if s)
    f = pq.ParquetFile(io.BytesIO(b"".join(parts)))
    assert [f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)] == [
        *[exports.ROW_GROUP_ROWS] * 3,
        1000,
    ]
    table = f.read()
    assert table.column_names == ex.names
    assert [tuple(r.values()) for r in table.slice(65530, 10).to_pylist()] == rows[65530:65540]


def test_an_encoder_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="csv"):
        exports.encoder("counts", "xlsx")


@pytest.mark.integration
def test_movements_rows_sum_to_the_json_matrix(pg_dsn: str, unique: str) -> None:
    cam = f"cam-{unique}"
    zones = [("z-n", "North"), ("z-e", "East"), ("z-w", "West")]
    with psycopg.connect(pg_dsn) as conn:
        for i in range(0, 200, 3):
            for oi, (o, o_name) in enumerate(zones):
                for di, (d, d_name) in enumerate(zones):
                    n = (i + oi + 2 * di) % 5
                    if o != d and n:
                        conn.execute(
                            "INSERT INTO movement_counts_minute VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                            (cam, T0 + timedelta(minutes=i), o, d, ("car", "bus")[i % 2], o_name, d_name, n),
                        )
    start, end = T0, T0 + timedelta(days=1)

    async def json_doc(bucket: str, cls: str | None) -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(pg_dsn, options="-c TimeZone=UTC") as conn:
            return await movements(conn, cam, start, end, bucket, cls)

    for bucket, cls in (("15m", None), ("1h", "bus"), ("1d", None)):
        want = asyncio.run(json_doc(bucket, cls))
        with connect(pg_dsn) as conn:
            q = exports.build_query("movements", cam, start, end, bucket, {"class_name": cls, "line_id": "ignored"})
            rows = [r for batch in exports.fetch(conn, q) for r in batch]
        per: dict[str, dict[str, Any]] = {}
        for b, e, o, o_name, d, d_name, c, n in rows:
            assert (o_name, d_name) == (dict(zones)[o], dict(zones)[d]) and e - b == BUCKETS[bucket]
            doc = per.setdefault(b.isoformat(), {"vehicles": 0, "matrix": {}, "by_class": {}})
            doc["vehicles"] += n
            doc["matrix"].setdefault(o, {}).setdefault(d, 0)
            doc["matrix"][o][d] += n
            doc["by_class"][c] = doc["by_class"].get(c, 0) + n
        assert rows and {k: v["vehicles"] for k, v in per.items()} == {
            b["start"]: b["vehicles"] for b in want["buckets"]
        }
        for b in want["buckets"]:
            assert per[b["start"]]["matrix"] == b["matrix"] and per[b["start"]]["by_class"] == b["by_class"]
