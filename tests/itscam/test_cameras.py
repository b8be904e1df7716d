"""`itscam cameras add|update|remove|list` against the real broker."""

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from eventbus.registry import read_cameras
from schemas.credentials import source_url_for

pytestmark = pytest.mark.integration


def test_add_update_list_remove(bootstrap: str, make_topic: Callable[..., str]) -> None:
    topic = make_topic("cameras", 3)
    env = {**os.environ, "ITS_KAFKA_BOOTSTRAP": bootstrap}

    def itscam(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "itscam", "cameras", *args, "--topic", topic],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )

    line = '[{"line_id": "north", "x1": 0.1, "y1": 0.6, "x2": 0.9, "y2": 0.6, "in_direction": "RIGHT_TO_LEFT"}]'
    res = itscam("add", "a40-east", "rtsp://admin:s3cret@127.0.0.1:8554/cam", "--fps", "5", "--lines", line)
    assert res.returncode == 0, res.stderr
    assert "s3cret" not in res.stdout and "rtsp://***@127.0.0.1:8554/cam" in res.stdout
    lobby = "/tmp/cams/lobby.mp4"  # under the tests' ITS_SOURCE_FILE_DIRS (the source policy refuses other files)
    assert itscam("add", "lobby", lobby, "--loop", "--decode", "KEYFRAMES").returncode == 0
    refused = itscam("add", "passwd", "/etc/passwd")
    assert refused.returncode == 2 and "rule file_dir" in refused.stderr and "Traceback" not in refused.stderr

    again = itscam("add", "a40-east", "rtsp://x/y")
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr

    assert itscam("update", "a40-east", "--no-enabled", "--jpeg-quality", "75").returncode == 0
    cams = read_cameras(bootstrap, topic)
    a40 = cams["a40-east"]
    assert not a40["enabled"] and a40["jpeg_quality"] == 75 and a40["target_fps"] == 5.0  # the rest is kept
    # stored redacted, the credentials sealed for ingest (kept by an update that leaves the URL alone)
    assert a40["source_url"] == "rtsp://***@127.0.0.1:8554/cam"
    assert source_url_for(a40) == "rtsp://admin:s3cret@127.0.0.1:8554/cam"
    assert a40["lines"][0]["in_direction"] == "RIGHT_TO_LEFT" and a40["lines"][0]["name"] == ""
    assert cams["lobby"]["loop"] and cams["lobby"]["decode"] == "KEYFRAMES"

    table = itscam("list")
    assert table.returncode == 0 and "s3cret" not in table.stdout and "2 camera(s)" in table.stdout
    rows = json.loads(itscam("list", "--json").stdout)
    assert [r["camera_id"] for r in rows] == ["a40-east", "lobby"] and "s3cret" not in json.dumps(rows)

    bad = itscam("update", "a40-east", "--fps", "500")
    assert bad.returncode == 2 and "target_fps 500.0 is out of range" in bad.stderr
    missing = itscam("update", "nope", "--fps", "5")
    assert missing.returncode == 2 and "itscam cameras add nope URL" in missing.stderr

    assert itscam("remove", "lobby").returncode == 0
    assert list(read_cameras(bootstrap, topic)) == ["a40-east"]
    assert itscam("remove", "lobby").returncode == 2  # unknown now
