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


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ('rtsp://admin:pa"ss@cam/s', "'\"' at character 16"),
        ("rtsp://admin:pa ss@cam/s", "U+0020 at character 16"),
        ("rtsp://admin:pa<ss@cam/s", "'<' at character 16"),
        ("rtsp://admin:pa>ss@cam/s", "'>' at character 16"),
        ("rtsp://admin:pa\\ss@cam/s", "'\\\\' at character 16"),
        ("rtsp://admin:pa`ss@cam/s", "'`' at character 16"),
        ("rtsp://admin:pa\tss@cam/s", "U+0009 at character 16"),
        ("rtsp://admin:pa\x7fss@cam/s", "U+007F at character 16"),
        ("rtsp://admin:pa\u00a0ss@cam/s", "U+00A0 at character 16"),
        ("/data/clip\n.mp4", "U+000A at character 11"),
    ],
)
def test_unencoded_characters_in_a_source_url_are_refused(url: str, shown: str) -> None:
    """They end a URL in a text (so its redaction), and no URL may hold them unencoded (RFC 3986)."""
    with pytest.raises(CameraConfigError) as e:
        camera_config("c", url)
    assert (e.value.field, e.value.reason) == ("source_url", "holds a character that must be percent-encoded")
    assert shown in str(e.value) and "percent-encode it (%" in str(e.value)
    assert "pa" not in str(e.value).replace("password", "")  # the URL is not repeated


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://u:p?ss@cam/s",
        "rtsp://u:1234#x@cam/s",
        "rtsp://admin:a/b:c@10.0.0.5/s",
        "rtsp://cam:99999/s",
        "rtsp://[::1/s",
    ],
)
def test_a_host_part_that_is_not_host_port_is_refused(url: str) -> None:
    """An unencoded '?', '#' or '/' in a password ends the host part early: the rest would not be seen as userinfo."""
    with pytest.raises(CameraConfigError, match=r"percent-encoded \(%3A, %2F, %3F, %23, %40\)") as e:
        camera_config("c", url)
    assert e.value.field == "source_url" and "ss@" not in str(e.value) and "1234" not in str(e.value)


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:pa%22ss@cam/s",
        "rtsp://u:p%3Fss@cam:554/s?channel=1&x=a@b",
        "rtsp://[2001:db8::1]:554/s",
        "/data/my clip.mp4",  # a bare path may hold spaces
        "C:\\clips\\a.mp4",
        "rtsp://***@cam/s?token=***",  # the form a GET answers, sent back by a PUT
    ],
)
def test_encoded_and_plain_sources_are_accepted(url: str) -> None:
    assert camera_config("c", url)["source_url"] == url
