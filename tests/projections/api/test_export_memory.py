"""A large export is streamed, not built in memory: 1,000,000 vehicle events downloaded as CSV, then as Parquet,
from the real API process while its resident memory is sampled; the growth stays a small fraction of the CSV body
and bounded for Parquet (a row group or two held). The figures are printed (`pytest -s`)."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest

from projections.api import ApiSettings
from projections.exports import ROW_GROUP_ROWS
from tests.projections.api.conftest import DAY, add_camera, api_env, free_port, running_api

pytestmark = pytest.mark.integration

ROWS = 1_000_000
MB = 1024 * 1024


def seed_events(dsn: str, cam: str, n: int) -> None:
    """n vehicle events of one camera over one day (about 86 ms apart), written by the database itself."""
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO vehicle_events (event_id, camera_id, line_id, line_name, track_id, direction, motion,"
            " class_name, class_id, confidence, frame_seq, crossed_at, x, y, speed_kmh)"
            " SELECT %(cam)s || '-e' || lpad(i::text, 7, '0'), %(cam)s, 'l' || (i %% 3), 'Main Street', i / 2,"
            " CASE WHEN i %% 2 = 0 THEN 'IN' ELSE 'OUT' END, 'DOWN', (ARRAY['car', 'truck', 'bus'])[i %% 3 + 1],"
            " i %% 3 + 2, 0.5 + (i %% 50) / 100.0, i, %(day)s + make_interval(secs => i * 0.0864),"
            " (i %% 1000) / 1000.0, 0.5, CASE WHEN i %% 5 = 0 THEN NULL ELSE 30 + (i %% 70) * 0.7 END"
            " FROM generate_series(0, %(n)s - 1) AS i",
            {"cam": cam, "day": DAY, "n": n},
        )


def api_pid() -> int:
    """The `itscam api` process this test started (a child of this process)."""
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"api" in argv and any(a.endswith(b"itscam") for a in argv):
            return int(proc.name)
    raise AssertionError("the `itscam api` child process is not running")


def rss(pid: int) -> int:
    """Resident set size in bytes (/proc/PID/status VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass
class Download:
    body: int  # bytes
    seconds: float
    base: int  # RSS before, bytes
    peak: int  # highest RSS sampled during the download

    @property
    def growth(self) -> int:
        return self.peak - self.base

    def figures(self, what: str) -> str:
        return (
            f"{what} {self.body / MB:.1f} MiB in {self.seconds:.1f} s ({self.body / MB / self.seconds:.1f} MiB/s); "
            f"API RSS {self.base / MB:.1f} MiB before, peak {self.peak / MB:.1f} MiB, growth {self.growth / MB:.1f} "
            f"MiB = {self.growth / self.body:.3f} of the body"
        )


def download(c: httpx.Client, url: str, params: dict[str, str], pid: int, out: BinaryIO) -> Download:
    """Read the answer chunk by chunk into `out` while a thread samples the API process's RSS every 20 ms."""
    base = peak = rss(pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    body = 0
    t0 = time.monotonic()
    try:
        with c.stream("GET", url, params=params) as r:
            assert r.status_code == 200, r.read()
            for chunk in r.iter_bytes():
                body += len(chunk)
                out.write(chunk)
    finally:
        done.set()
        sampler.join()
    return Download(body, time.monotonic() - t0, base, peak)


def test_a_million_events_stream_as_csv_and_parquet_in_flat_memory(
    api_settings: ApiSettings, make_key: Callable[..., str], pg_dsn: str, unique: str, tmp_path: Path
) -> None:
    cam = f"cam-big-{unique}"
    with psycopg.connect(pg_dsn) as conn:
        add_camera(conn, cam)
    t0 = time.monotonic()
    seed_events(pg_dsn, cam, ROWS)
    print(f"\n{ROWS} vehicle events seeded in {time.monotonic() - t0:.1f} s")
    day = {"from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z"}
    minute = {"from": "2026-01-05T00:00:00Z", "to": "2026-01-05T00:01:00Z"}
    try:
        with running_api(api_env(api_settings, free_port()), tmp_path / "api.log") as url:
            pid = api_pid()
            events = f"{url}/v1/cameras/{cam}/vehicle-events"
            with httpx.Client(headers={"Authorization": f"Bearer {make_key('read')}"}, timeout=120) as c:
                for fmt in ("csv", "parquet"):  # first-request allocations (and pyarrow's import) before measuring
                    assert c.get(events, params={**minute, "format": fmt}).status_code == 200
                with (tmp_path / "events.csv").open("w+b") as f:
                    got = download(c, events, {**day, "format": "csv"}, pid, f)
                    print(got.figures("CSV"))
                    f.seek(0)
                    lines = sum(1 for _ in f)
                    f.seek(-200, io.SEEK_END)
                    tail = f.read()
                assert lines == ROWS + 1  # the header and every event
                assert tail.endswith(b"\r\n") and f"{cam}-e0000000,".encode() in tail  # newest first: oldest last
                assert got.growth < got.body / 4 and got.growth < 150 * MB
                with (tmp_path / "events.parquet").open("wb") as f:
                    got = download(c, events, {**day, "format": "parquet"}, pid, f)
                print(got.figures("Parquet"))
                meta = pq.ParquetFile(tmp_path / "events.parquet").metadata
                assert meta.num_rows == ROWS and meta.num_row_groups == -(-ROWS // ROW_GROUP_ROWS)
                assert got.growth < 150 * MB  # about two row groups held, whatever the number of rows
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("DELETE FROM vehicle_events WHERE camera_id = %s", (cam,))
