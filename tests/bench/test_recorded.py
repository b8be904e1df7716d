"""bench/recorded.py: the recorded clip detections are replayed as other cameras unchanged but for the camera id,
and the cache key follows the clips, the model, the rate and the size."""

from __future__ import annotations

from pathlib import Path

from bench.analytics import camera_traffic
from bench.counting import Clip
from bench.recorded import cache_path, clip_camera, renamed
from schemas import codec


def _clip(tmp_path: Path, name: str, content: bytes) -> Clip:
    p = tmp_path / name
    p.write_bytes(content)
    return Clip(name, p, 1280, 720, ((128.0, 198.0), (639.0, 198.0)), 24, {})


def test_a_replayed_camera_is_the_same_frames_under_another_id() -> None:
    c = codec("DetectionsProduced")
    events, _ = camera_traffic("recorded", 5)
    out = [c.decode(p) for p in renamed([c.encode(e) for e in events], "cam-0042")]
    assert [e["camera_id"] for e in out] == ["cam-0042"] * 5
    assert [{**e, "camera_id": "recorded"} for e in out] == [c.decode(c.encode(e)) for e in events]


def test_the_cache_key_follows_clips_model_rate_and_size(tmp_path: Path) -> None:
    clips = [_clip(tmp_path, "a.mp4", b"a"), _clip(tmp_path, "b.mp4", b"b")]
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model-1")
    base = cache_path(tmp_path, clips, str(model), 10.0, 640)
    assert base == cache_path(tmp_path, list(reversed(clips)), str(model), 10.0, 640)
    assert base != cache_path(tmp_path, clips, str(model), 5.0, 640)
    assert base != cache_path(tmp_path, clips, str(model), 10.0, 320)
    assert base != cache_path(tmp_path, [_clip(tmp_path, "a.mp4", b"a2"), clips[1]], str(model), 10.0, 640)
    model.write_bytes(b"model-2")
    assert base != cache_path(tmp_path, clips, str(model), 10.0, 640)


def test_the_camera_counts_on_the_clips_hand_count_line(tmp_path: Path) -> None:
    cfg = clip_camera("cam-1", _clip(tmp_path, "a.mp4", b"a"))
    (line,) = cfg["lines"]
    assert (line["x1"], line["y1"], line["x2"], line["y2"]) == (0.1, 0.275, 639 / 1280, 0.275)
    assert cfg["target_fps"] == 10.0
