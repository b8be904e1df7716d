"""The camera registry's producer and reader against the real broker (eventbus/registry.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from eventbus.registry import put_camera, read_cameras, remove_camera
from schemas.cameras import camera_config

pytestmark = pytest.mark.integration


def test_latest_value_per_camera_wins_and_a_tombstone_removes_it(
    bootstrap: str, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("cams", 3)
    put_camera(bootstrap, camera_config("a", "rtsp://u:p@cam-a/1"), topic)
    put_camera(bootstrap, camera_config("b", "rtsp://cam-b/1"), topic)
    put_camera(bootstrap, camera_config("a", "rtsp://cam-a/2", target_fps=5.0), topic)
    remove_camera(bootstrap, "b", topic)
    cams = read_cameras(bootstrap, topic, timeout=20)
    assert list(cams) == ["a"]
    assert (cams["a"]["source_url"], cams["a"]["target_fps"]) == ("rtsp://cam-a/2", 5.0)
