from typing import Any

import pytest

from schemas.cameras import CameraConfigError, camera_config, redact


def test_defaults_follow_the_schema() -> None:
    c = camera_config("cam-1", "rtsp://cam/stream")
    assert (c["target_fps"], c["max_width"], c["max_height"], c["jpeg_quality"]) == (10.0, 1280, 720, 90)
    assert c["enabled"] and c["protocol"] == "AUTO" and c["decode"] == "AUTO" and c["calibration"] is None


@pytest.mark.parametrize(
    ("camera_id", "fields", "message"),
    [
        ("bad id!", {}, r"Camera id 'bad id!' is not valid"),
        ("", {}, r"is not valid"),
        ("c", {"target_fps": 0.0}, r"target_fps 0.0 is out of range; use a value in \(0, 60\]"),
        ("c", {"target_fps": float("nan")}, r"target_fps nan"),
        ("c", {"jpeg_quality": 0}, r"jpeg_quality 0 is out of range; use 1-100"),
        ("c", {"max_width": -1}, r"max_width -1 is out of range"),
        ("c", {"protocol": "RTMP"}, r"protocol 'RTMP' is not one of"),
        ("c", {"decode": "SOME"}, r"decode 'SOME' is not one of"),
        ("c", {"colour": "red"}, r"Unknown camera field\(s\) \['colour'\]"),
        (
            "c",
            {
                "lines": [
                    {"line_id": "l", "name": "", "x1": 0, "y1": 0, "x2": 640, "y2": 0, "in_direction": "LEFT_TO_RIGHT"}
                ]
            },
            r"line 'l' has coordinates .* outside 0..1; lines use normalised image coordinates",
        ),
        ("c", {"calibration": {"image_points": [], "ground_points": []}}, r"exactly 4 image points"),
    ],
)
def test_invalid_configs_name_the_field_and_the_fix(camera_id: str, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(CameraConfigError, match=message):
        camera_config(camera_id, "rtsp://cam/stream", **fields)


def test_empty_source_is_rejected() -> None:
    with pytest.raises(CameraConfigError, match="source_url is empty"):
        camera_config("c", "  ")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/h264", "rtsp://***@10.0.0.5:554/h264"),
        ("whep://token@cam/whep", "whep://***@cam/whep"),
        ("http://cam/mjpeg", "http://cam/mjpeg"),
        ("/data/clip.mp4", "/data/clip.mp4"),
    ],
)
def test_credentials_never_shown(url: str, shown: str) -> None:
    assert redact(url) == shown
