"""Exports of the read models for analysts' tools: CSV and Parquet of counts, movements, stats and vehicle events.

One definition per export (its columns, its SQL) and one encoder per format, shared by the API (streamed answers,
projections.api.export) and `itscam export` (stdout). Rows come from a server-side cursor a few thousand at a time
and leave as bytes as soon as they are encoded, so an export of any size runs in flat memory:

- CSV: RFC 4180 (header row first, CRLF line ends, UTF-8); times ISO 8601 UTC exactly as the JSON answers write
  them, numbers as JSON writes them, NULL as an empty field.
- Parquet: one row group per `ROW_GROUP_ROWS` rows (zstd), each written out once it is full; times are
  timestamp[us, UTC].

Docs: docs/exports.md (the columns and what each row is).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import psycopg
from psycopg import sql

from projections.queries import BUCKET_ORIGIN, BUCKETS

__all__ = [
    "EXPORTS",
    "FETCH_ROWS",
    "FORMATS",
    "MEDIA_TYPES",
    "ROW_GROUP_ROWS",
    "WHATS",
    "Column",
    "CsvEncoder",
    "Encoder",
    "Export",
    "ParquetEncoder",
    "Query",
    "afetch",
    "build_query",
    "camera_known",
    "encoder",
    "fetch",
    "filename",
]

Kind = Literal["text", "time", "int", "float", "bool"]
FORMATS = ("csv", "parquet")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
FETCH_ROWS = 4096  # rows per round trip of the server-side cursor; ROW_GROUP_ROWS is a multiple of it
ROW_GROUP_ROWS = 65536


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


@dataclass(frozen=True)
class Export:
    """What one export is: its columns in order, the query filters it takes, and its SELECT (named parameters cam,
    start, end, width, origin and f_<filter>; `{where}` is where the filters go)."""

    what: str
    columns: tuple[Column, ...]
    filters: tuple[str, ...]
    select: str

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cols(spec: str) -> tuple[Column, ...]:
    out = []
    for item in spec.split():
        name, kind = item.split(":")
        out.append(Column(name, kind))  # type: ignore[arg-type]
    return tuple(out)


_EVENT_FILTERS = ("line_id", "class_name", "direction")

# Counts: long format, one row per bucket, line, direction and class; mean_speed_kmh is unrounded (the JSON answer
# rounds to 2 decimals), so sum(mean_speed_kmh * speed_samples) / sum(speed_samples) gives any coarser mean.
_COUNTS = Export(
    "counts",
    _cols(
        "bucket_start:time bucket_end:time line_id:text direction:text class_name:text vehicles:int "
        "speed_samples:int mean_speed_kmh:float"
    ),
    _EVENT_FILTERS,
    "SELECT b, b + %(width)s, line_id, direction, class_name, vehicles, speed_n,"
    " CASE WHEN speed_n > 0 THEN speed_sum / speed_n END"
    " FROM (SELECT date_bin(%(width)s, minute, %(origin)s) AS b, line_id, direction, class_name,"
    " sum(vehicles)::bigint AS vehicles, sum(speed_n)::bigint AS speed_n, sum(speed_sum) AS speed_sum"
    " FROM vehicle_counts_minute WHERE camera_id = %(cam)s AND minute >= %(start)s AND minute < %(end)s{where}"
    " GROUP BY 1, 2, 3, 4) c ORDER BY b, line_id, direction, class_name",
)
# Movements: one row per bucket, origin, destination and class; the zones' names are the latest in the bucket.
_MOVEMENTS = Export(
    "movements",
    _cols(
        "bucket_start:time bucket_end:time origin_zone_id:text origin_name:text destination_zone_id:text "
        "destination_name:text class_name:text vehicles:int"
    ),
    ("class_name",),
    "SELECT b, b + %(width)s, origin_zone_id, origin_name, destination_zone_id, destination_name, class_name, vehicles"
    " FROM (SELECT date_bin(%(width)s, minute, %(origin)s) AS b, origin_zone_id, destination_zone_id, class_name,"
    " (array_agg(origin_name ORDER BY minute DESC))[1] AS origin_name,"
    " (array_agg(destination_name ORDER BY minute DESC))[1] AS destination_name, sum(vehicles)::bigint AS vehicles"
    " FROM movement_counts_minute WHERE camera_id = %(cam)s AND minute >= %(start)s AND minute < %(end)s{where}"
    " GROUP BY 1, 2, 3, 4) m ORDER BY b, origin_zone_id, destination_zone_id, class_name",
)
# Stats: the 1-minute windows, oldest first (as the JSON pages); their per-line counts are the counts export's.
_STATS = Export(
    "stats",
    _cols(
        "window_start:time window_end:time frames:int vehicles:int mean_speed_kmh:float speed_samples:int "
        "mean_occupancy:float late_frames:int closed_by:text missing_frames:int stale_frames:int complete:bool"
    ),
    (),
    "SELECT window_start, window_end, frames, vehicles, mean_speed_kmh, speed_samples, mean_occupancy, late_frames,"
    " closed_by, missing_frames, stale_frames, complete FROM traffic_stats"
    " WHERE camera_id = %(cam)s AND window_start >= %(start)s AND window_start < %(end)s{where} ORDER BY window_start",
)
# Vehicle events: newest first, as the JSON pages (the index's order: no sort however many rows).
_VEHICLE_EVENTS = Export(
    "vehicle-events",
    _cols(
        "event_id:text camera_id:text line_id:text line_name:text track_id:int direction:text motion:text "
        "class_name:text class_id:int confidence:float frame_seq:int crossed_at:time x:float y:float speed_kmh:float"
    ),
    _EVENT_FILTERS,
    "SELECT event_id, camera_id, line_id, line_name, track_id, direction, motion, class_name, class_id, confidence,"
    " frame_seq, crossed_at, x, y, speed_kmh FROM vehicle_events"
    " WHERE camera_id = %(cam)s AND crossed_at >= %(start)s AND crossed_at < %(end)s{where}"
    " ORDER BY crossed_at DESC, event_id DESC",
)

EXPORTS: dict[str, Export] = {e.what: e for e in (_COUNTS, _MOVEMENTS, _STATS, _VEHICLE_EVENTS)}
WHATS = tuple(EXPORTS)


@dataclass(frozen=True)
class Query:
    statement: sql.Composed
    params: dict[str, Any]


def build_query(
    what: str, camera_id: str, start: datetime, end: datetime, bucket: str, filters: Mapping[str, str | None]
) -> Query:
    """The export's SELECT for one camera, start <= t < end, `bucket`-wide buckets (counts, movements) and the
    filters it takes (line_id, class_name, direction; the others are ignored, as the JSON answers ignore them)."""
    ex = EXPORTS[what]
    params: dict[str, Any] = {
        "cam": camera_id,
        "start": start,
        "end": end,
        "width": BUCKETS[bucket],
        "origin": BUCKET_ORIGIN,
    }
    where: list[sql.Composable] = []
    for name in ex.filters:
        value = filters.get(name)
        if value is not None:
            where.append(sql.SQL(" AND {} = {}").format(sql.Identifier(name), sql.Placeholder(f"f_{name}")))
            params[f"f_{name}"] = value
    return Query(sql.SQL(ex.select).format(where=sql.Composed(where)), params)


def filename(camera_id: str, what: str, start: datetime, end: datetime, fmt: str) -> str:
    """<camera>-<what>-<from>-<to>.<format>, the times as compact UTC (20260105T000000Z)."""
    return f"{camera_id}-{what}-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.{fmt}"


# -- reading: a server-side cursor, FETCH_ROWS rows a round trip --------------------------------------------------
Row = Sequence[Any]


def camera_known(conn: psycopg.Connection[Any], camera_id: str) -> bool:
    """The camera is configured or has been seen (and is not deleted): the API's 404 test."""
    cur = conn.execute("SELECT 1 FROM cameras WHERE camera_id = %s AND deleted_at IS NULL", (camera_id,))
    return cur.fetchone() is not None


def fetch(conn: psycopg.Connection[Any], q: Query) -> Generator[list[Row], None, None]:
    """The query's rows in lists of up to FETCH_ROWS (the connection must not be in autocommit: a server-side
    cursor lives in a transaction)."""
    with conn.cursor(name="its_export") as cur:
        cur.execute(q.statement, q.params)
        while rows := cur.fetchmany(FETCH_ROWS):
            yield rows


async def afetch(conn: psycopg.AsyncConnection[Any], q: Query) -> AsyncGenerator[list[Row], None]:
    """`fetch` on an async connection."""
    async with conn.cursor(name="its_export") as cur:
        await cur.execute(q.statement, q.params)
        while rows := await cur.fetchmany(FETCH_ROWS):
            yield rows


# -- encoding -------------------------------------------------------------------------------------------------------
class Encoder(Protocol):
    """Bytes of one export file: `start()`, then `rows(...)` per batch, then `finish()`; each returns the bytes it
    produced (maybe none), to be sent or written in that order."""

    def start(self) -> bytes: ...
    def rows(self, rows: Sequence[Row]) -> bytes: ...
    def finish(self) -> bytes: ...


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CsvEncoder:
    def __init__(self, ex: Export) -> None:
        self._names = ex.names
        self._times = [i for i, c in enumerate(ex.columns) if c.kind == "time"]
        self._texts = [i for i, c in enumerate(ex.columns) if c.kind == "text"]

    def _line(self, rows: Sequence[Row]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)  # floats as repr(), like JSON; None as an empty field
        return buf.getvalue().encode()

    def start(self) -> bytes:
        return self._line([self._names])

    def rows(self, rows: Sequence[Row]) -> bytes:
        return self._line([self._cells(r) for r in rows])

    def _cells(self, row: Row) -> list[Any]:
        out = list(row)
        for i in self._times:
            if out[i] is not None:
                out[i] = out[i].isoformat()
        for i in self._texts:
            # A name an ops key typed (line, zone) must not run as a formula in a spreadsheet: OWASP's CSV injection
            # rule, a leading ' on text that starts like one.
            v = out[i]
            if isinstance(v, str) and v[:1] in _FORMULA_START:
                out[i] = "'" + v
        return out

    def finish(self) -> bytes:
        return b""


class _Sink:
    """A write-only file whose bytes are taken out as they are written (what pyarrow's ParquetWriter writes to)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: Any) -> int:
        b = bytes(data)
        self._chunks.append(b)
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


class ParquetEncoder:
    """Batches become Arrow record batches at once (compact); a row group is written when ROW_GROUP_ROWS are held."""

    def __init__(self, ex: Export, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        types = {
            "text": pa.string(),
            "time": pa.timestamp("us", tz="UTC"),
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
        }
        self._schema = pa.schema([(c.name, types[c.kind]) for c in ex.columns])
        self._rg = row_group_rows
        self._sink = _Sink()
        self._writer = pq.ParquetWriter(pa.PythonFile(self._sink, mode="w"), self._schema, compression="zstd")
        self._held: list[Any] = []
        self._n = 0

    def start(self) -> bytes:
        return self._sink.take()

    def rows(self, rows: Sequence[Row]) -> bytes:
        if rows:
            pa = self._pa
            cols = list(zip(*rows, strict=True))
            arrays = [pa.array(col, type=f.type) for col, f in zip(cols, self._schema, strict=True)]
            self._held.append(pa.RecordBatch.from_arrays(arrays, schema=self._schema))
            self._n += len(rows)
            while self._n >= self._rg:
                table = self._pa.Table.from_batches(self._held, schema=self._schema)
                self._writer.write_table(table.slice(0, self._rg), row_group_size=self._rg)
                rest = table.slice(self._rg)
                self._held = rest.to_batches()
                self._n = rest.num_rows
        return self._sink.take()

    def finish(self) -> bytes:
        if self._n:
            table = self._pa.Table.from_batches(self._held, schema=self._schema)
            self._writer.write_table(table, row_group_size=self._rg)
            self._held, self._n = [], 0
        self._writer.close()
        return self._sink.take()


def encoder(what: str, fmt: str) -> Encoder:
    ex = EXPORTS[what]
    if fmt == "csv":
        return CsvEncoder(ex)
    if fmt == "parquet":
        return ParquetEncoder(ex)
    raise ValueError(f"Unknown export format {fmt!r}; expected one of {list(FORMATS)}.")
