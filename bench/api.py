"""`itscam bench api`: requests per second and latency of the query API's two hot routes under wrk.

Seeds 100 cameras with a day of 1-minute vehicle_counts_minute rows (2 lines x 3 classes x 2 directions) and
their Redis live state (frame, status, today's counters), creates a bench key with a rate limit nobody reaches,
starts `itscam api` (uvicorn, --workers, uvloop/httptools) on a free loopback port, then runs wrk with a Lua script
that rotates the camera ids and sends the key, for `--seconds` at `--connections` on

- GET /v1/cameras/{id}/live      (Redis only: one script reads the three hashes; key from the in-process cache);
- GET /v1/cameras/{id}/counts?bucket=1h&from=<day>&to=<day+1>   (24 hourly buckets summed from 1,440 minutes of
  rows; the answer cached in Redis, ITS_API_QUERY_CACHE_CLOSED_S for a past day);
- and, for `--uncached-seconds`, the same counts query made new on every request (`from` shifts by a second), so
  each one is summed by PostgreSQL: what a cache miss costs.

Every request also takes a rate-limit token (in the same Redis script as the route's own read) and queues an audit
row (COPY in batches), as in production. Figures are what wrk's `done` hook reports: requests/s, P50/P95/P99
latency, non-2xx and socket errors.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.report import write_results

__all__ = ["main_bench", "run_wrk", "seed", "unseed"]

CAMERAS = 100
LINES = ("north", "south")
CLASSES = ("car", "truck", "bus")

_WRK_LUA = """
local ids = {%(ids)s}
local base = %(base)d
local i = 0
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i + 1
  local path = string.gsub("%(template)s", "{id}", ids[(i %% #ids) + 1])
  path = string.gsub(path, "{from}", os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", base + (i %% 3600)))
  return wrk.format("GET", path)
end
done = function(summary, latency, requests)
  io.write(string.format(
    "WRKJSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"p50_us\\":%%d,\\"p95_us\\":%%d,\\"p99_us\\":%%d," ..
    "\\"max_us\\":%%d,\\"connect_errors\\":%%d,\\"read_errors\\":%%d,\\"write_errors\\":%%d,\\"status_errors\\":%%d," ..
    "\\"timeouts\\":%%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
"""


def seed(dsn: str, redis_url: str, day: datetime, cameras: int = CAMERAS) -> list[str]:
    """Bench cameras `bench-api-NNN` (replaced if present) with a day of per-minute counts and live state."""
    import psycopg
    import redis

    ids = [f"bench-api-{i:03d}" for i in range(cameras)]
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM vehicle_counts_minute WHERE camera_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM cameras WHERE camera_id = ANY(%s)", (ids,))
        with conn.cursor() as cur, cur.copy("COPY cameras (camera_id, name, frames, detections) FROM STDIN") as cp:
            for cam in ids:
                cp.write_row((cam, f"Bench {cam}", 0, 0))
        cols = "camera_id, minute, line_id, class_name, direction, vehicles, speed_sum, speed_n"
        with conn.cursor() as cur, cur.copy(f"COPY vehicle_counts_minute ({cols}) FROM STDIN") as cp:
            for ci, cam in enumerate(ids):
                for m in range(1440):
                    minute = day + timedelta(minutes=m)
                    for li, line in enumerate(LINES):
                        for k, cls in enumerate(CLASSES):
                            for di, direction in enumerate(("IN", "OUT")):
                                n = 1 + (ci + m + li + k + di) % 5
                                cp.write_row((cam, minute, line, cls, direction, n, 48.0 * n, n))
    # A steady-state table is vacuumed and analysed; without this, autovacuum wakes up to the 1.7 M fresh rows in
    # the middle of the measurement.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) vehicle_counts_minute")
        conn.execute("VACUUM (ANALYZE) cameras")
    r = redis.Redis.from_url(redis_url)
    now = datetime.now(UTC)
    today = now.date().isoformat()
    pipe = r.pipeline(transaction=False)
    for cam in ids:
        frame = {
            "camera_id": cam,
            "frame_seq": 1234,
            "captured_at": now.isoformat(),
            "produced_at": now.isoformat(),
            "width": 1280,
            "height": 720,
            "model": {"name": "yolo11n", "backend": "onnxruntime"},
            "detections": [
                {"class_id": 2, "class_name": "car", "confidence": 0.9, "x1": 10.0 * i, "y1": 5.0, "x2": 10.0 * i + 40,
                 "y2": 45.0}
                for i in range(8)
            ],
        }  # fmt: skip
        status = {"camera_id": cam, "status": "ONLINE", "changed_at": now.isoformat(), "measured_fps": 10.0}
        us = int(now.timestamp() * 1e6)
        pipe.hset(f"its:live:{cam}", mapping={"ts": us, "json": json.dumps(frame)})
        pipe.hset(f"its:status:{cam}", mapping={"ts": us, "json": json.dumps(status)})
        counters: dict[Any, Any] = {"off": 1, "day": today, "vehicles": 120, "IN": 70, "OUT": 50}
        counters |= {f"line:{line}:{d}": 30 for line in LINES for d in ("IN", "OUT")}
        counters |= {f"class:{c}": 40 for c in CLASSES}
        pipe.hset(f"its:counts:{cam}", mapping=counters)
    pipe.execute()
    return ids


def unseed(dsn: str, redis_url: str, ids: list[str], key_id: str) -> None:
    """Remove what the bench wrote: its cameras, their counts and live state, its key and that key's audit rows."""
    import psycopg
    import redis

    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM vehicle_counts_minute WHERE camera_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM cameras WHERE camera_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM audit_log WHERE key_id = %s", (key_id,))
        conn.execute("DELETE FROM api_keys WHERE key_id = %s", (key_id,))
    r = redis.Redis.from_url(redis_url)
    r.delete(*(f"its:{kind}:{cam}" for cam in ids for kind in ("live", "status", "counts")), f"its:rl:{key_id}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_wrk(
    url: str,
    template: str,
    ids: list[str],
    token: str,
    seconds: float,
    connections: int,
    threads: int,
    base: datetime | None = None,
) -> dict[str, Any]:
    """wrk on `template` ({id}: the cameras in turn; {from}: `base` plus 0..3599 s, a new query each time)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        ids_lua = ", ".join(f'"{i}"' for i in ids)
        stamp = int((base or datetime.now(UTC)).timestamp())
        f.write(_WRK_LUA % {"ids": ids_lua, "token": token, "template": template, "base": stamp})
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "5s", "-s", script, url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    raw = json.loads(next(line for line in out.splitlines() if line.startswith("WRKJSON "))[8:])
    return {
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p95_ms": round(raw["p95_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        "requests": raw["requests"],
        "non_2xx": raw["status_errors"],
        "socket_errors": raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
    }


def main_bench(args: argparse.Namespace) -> int:
    import httpx

    from projections import migrate
    from projections.api import ApiSettings
    from projections.api.keys import create_key
    from projections.errors import ProjectionError

    s = ApiSettings()
    migrate(s.pg_dsn.get_secret_value())
    workers = args.workers or s.workers
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = time.perf_counter()
    ids = seed(s.pg_dsn.get_secret_value(), s.redis_url.get_secret_value(), day)
    seeded_s = time.perf_counter() - t0
    print(f"seeded {len(ids)} cameras x 1,440 minutes x 12 series of counts + live state in {seeded_s:.1f} s")
    key_id, token = create_key(s.pg_dsn.get_secret_value(), "bench-api", ["read"], 1_000_000_000)
    port = _free_port()
    env = {
        **os.environ,
        "ITS_API_HOST": "127.0.0.1",
        "ITS_API_PORT": str(port),
        "ITS_API_METRICS_PORT": "0",
        "ITS_API_WORKERS": str(workers),
    }
    itscam = Path(sys.executable).with_name("itscam")
    log = Path(tempfile.gettempdir()) / f"itscam-bench-api-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(itscam), "api"], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise ProjectionError(f"`itscam api` exited with {proc.returncode}; see {log}.")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ProjectionError(f"`itscam api` did not answer within 60 s; see {log}.")
            time.sleep(0.2)
        frm, to = day.isoformat().replace("+00:00", "Z"), (day + timedelta(days=1)).isoformat().replace("+00:00", "Z")
        endpoints = {
            "live": "/v1/cameras/{id}/live",
            "counts": f"/v1/cameras/{{id}}/counts?bucket=1h&from={frm}&to={to}",
        }
        # Every request a new query (from shifts by a second): the PostgreSQL path with the cache of no help.
        uncached = f"/v1/cameras/{{id}}/counts?bucket=1h&from={{from}}&to={to}"
        runs = [(n, t, args.seconds) for n, t in endpoints.items()]
        if args.uncached_seconds > 0:
            runs.append(("counts_uncached", uncached, args.uncached_seconds))
        for name, template, seconds in runs:
            first = template.replace("{id}", ids[0]).replace("{from}", frm)
            probe = httpx.get(url + first, headers={"Authorization": f"Bearer {token}"})
            if probe.status_code != 200:
                raise ProjectionError(f"{name}: the API answered {probe.status_code}: {probe.text[:300]}")
            if name != "counts_uncached":  # warm up (fills the query cache)
                run_wrk(url, template, ids, token, args.warmup_seconds, args.connections, args.threads, day)
            r = run_wrk(url, template, ids, token, seconds, args.connections, args.threads, day)
            r["bytes_per_response"] = len(probe.content)
            results[name] = r
            print(
                f"{name:15}  {r['rps']:>9,.0f} req/s   P50 {r['p50_ms']:6.2f} ms   P95 {r['p95_ms']:6.2f} ms   "
                f"P99 {r['p99_ms']:6.2f} ms   non-2xx {r['non_2xx']}   socket errors {r['socket_errors']}"
            )
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        unseed(s.pg_dsn.get_secret_value(), s.redis_url.get_secret_value(), ids, key_id)
    goal = {"rps": 5000, "p95_ms": 50}
    doc = {
        "machine": {"cores": os.cpu_count(), "note": "wrk, the API, PostgreSQL and Redis share these cores"},
        "api": {"workers": workers, "loop": "uvloop", "http": "httptools"},
        "wrk": {"connections": args.connections, "threads": args.threads, "seconds": args.seconds},
        "cameras": len(ids),
        "counts_query": "bucket=1h over one day of 1-minute rows (24 buckets); counts_uncached: a new query "
        "every request",
        **results,
        "goal": goal,
        # the goal is for the hot routes; counts_uncached shows what a cache miss costs
        "meets_goal": {
            n: results[n]["rps"] >= goal["rps"] and results[n]["p95_ms"] < goal["p95_ms"]
            for n in ("live", "counts")
            if n in results
        },
    }
    write_results(args.json, doc)
    return 0
