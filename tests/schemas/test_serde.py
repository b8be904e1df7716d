import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import MAGIC, SchemaError, UnknownSchemaError, codec, decode_any, schema_files
from schemas.events import (
    CameraConfig,
    CameraStatusChanged,
    DeadLetter,
    DetectionsProduced,
    FrameCaptured,
    IncidentDetected,
    TrafficStatsWindow,
    VehicleCounted,
)

# Pinned on purpose: a changed fingerprint means a changed wire contract. If you changed a schema on
# purpose, keep it backward/forward compatible and update the value here in the same commit.
FINGERPRINTS = {
    "FrameCaptured": "c808fe25fef6b3f0",
    "DetectionsProduced": "e52be57d02b9503a",
    "DeadLetter": "a679ae85c65e2c33",
    "CameraConfig": "37e866c949de3ff8",
    "CameraStatusChanged": "4ef8c37bd75b53c5",
    "VehicleCounted": "8c0614cedd8e7401",
    "IncidentDetected": "2a151d72a8cab794",
    "TrafficStatsWindow": "8b0025052364945f",
}


def _crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO as written in the Avro specification ("Schema Fingerprints"), independent of fastavro."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


timestamps = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
ints = st.integers(min_value=-(2**31), max_value=2**31 - 1)
longs = st.integers(min_value=-(2**63), max_value=2**63 - 1)

frames = st.fixed_dictionaries(
    {
        "camera_id": st.text(),
        "frame_seq": longs,
        "captured_at": timestamps,
        "source_pts_us": st.none() | longs,
        "width": ints,
        "height": ints,
        "encoding": st.text(),
        "image": st.binary(),
        "source": st.text(),
        "run_start_seq": st.none() | longs,
        "run_index": st.none() | longs,
    }
)
detection = st.fixed_dictionaries(
    {
        "class_id": ints,
        "class_name": st.text(),
        "confidence": f32,
        "x1": f32,
        "y1": f32,
        "x2": f32,
        "y2": f32,
    }
)
detections = st.fixed_dictionaries(
    {
        "camera_id": st.text(),
        "frame_seq": longs,
        "captured_at": timestamps,
        "produced_at": timestamps,
        "width": ints,
        "height": ints,
        "model": st.fixed_dictionaries(
            {
                "name": st.text(),
                "version": st.text(),
                "sha256": st.text(),
                "backend": st.text(),
                "precision": st.text(),
                "imgsz": ints,
                "class_names": st.lists(st.text(), max_size=8),
            }
        ),
        "detections": st.lists(detection, max_size=20),
        "timings": st.fixed_dictionaries(
            {
                "queued_ms": f32,
                "decode_ms": f32,
                "preprocess_ms": f32,
                "inference_ms": f32,
                "postprocess_ms": f32,
                "total_ms": f32,
                "batch_size": ints,
            }
        ),
        "run_start_seq": st.none() | longs,
        "run_index": st.none() | longs,
        "report_confidence": f32,
    }
)
dead_letters = st.fixed_dictionaries(
    {
        "source_topic": st.text(),
        "source_partition": ints,
        "source_offset": longs,
        "key": st.none() | st.binary(),
        "value": st.none() | st.binary(),
        "stage": st.text(),
        "error_type": st.text(),
        "error": st.text(),
        "failed_at": timestamps,
        "value_size": st.none() | longs,
        "value_sha256": st.none() | st.text(),
        "value_truncated": st.booleans(),
    }
)


def _dead_letter() -> DeadLetter:
    return {
        "source_topic": "t",
        "source_partition": 0,
        "source_offset": 1,
        "key": None,
        "value": None,
        "stage": "s",
        "error_type": "e",
        "error": "x",
        "failed_at": datetime.now(UTC),
        "value_size": None,
        "value_sha256": None,
        "value_truncated": False,
    }


@settings(max_examples=200, deadline=None)
@given(frames)
def test_frame_captured_round_trips(record: FrameCaptured) -> None:
    payload = codec("FrameCaptured").encode(record)
    assert payload[:2] == MAGIC
    assert decode_any(payload) == ("FrameCaptured", record)


@settings(max_examples=200, deadline=None)
@given(detections)
def test_detections_produced_round_trips(record: DetectionsProduced) -> None:
    assert codec("DetectionsProduced").decode(codec("DetectionsProduced").encode(record)) == record


@settings(max_examples=100, deadline=None)
@given(dead_letters)
def test_dead_letter_round_trips(record: DeadLetter) -> None:
    assert codec("DeadLetter").decode(codec("DeadLetter").encode(record)) == record


def test_every_payload_starts_with_magic_and_fingerprint() -> None:
    c = codec("DeadLetter")
    payload = c.encode(_dead_letter())
    assert payload[:10] == b"\xc3\x01" + c.fingerprint


@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
def test_fingerprint_is_crc64_avro_of_canonical_form_and_stable(name: str) -> None:
    c = codec(name)
    assert c.fingerprint == _crc64_avro(c.canonical.encode()).to_bytes(8, "little")
    assert c.fingerprint.hex() == FINGERPRINTS[name]


def test_typed_events_match_avsc_fields() -> None:
    for name, cls in [
        ("FrameCaptured", FrameCaptured),
        ("DetectionsProduced", DetectionsProduced),
        ("DeadLetter", DeadLetter),
        ("CameraConfig", CameraConfig),
        ("CameraStatusChanged", CameraStatusChanged),
        ("VehicleCounted", VehicleCounted),
        ("IncidentDetected", IncidentDetected),
        ("TrafficStatsWindow", TrafficStatsWindow),
    ]:
        fields = [f["name"] for f in json.loads(schema_files()[name])["fields"]]
        assert fields == list(cls.__annotations__), name


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00\x01", b'{"json": true}', b"\xc3\x01short", b"\xc3\x02" + bytes(8) + b"x"],
)
def test_non_single_object_payloads_are_rejected_with_the_fix(payload: bytes) -> None:
    with pytest.raises(SchemaError, match=r"single-object|fingerprint"):
        decode_any(payload)


def test_unknown_fingerprint_names_the_schema_topic() -> None:
    with pytest.raises(UnknownSchemaError, match=r"its\.schemas\.v1"):
        decode_any(MAGIC + bytes(8) + b"\x00")


def test_truncated_body_is_a_schema_error() -> None:
    c = codec("FrameCaptured")
    payload = c.encode(
        {
            "camera_id": "cam",
            "frame_seq": 1,
            "captured_at": datetime.now(UTC),
            "source_pts_us": None,
            "width": 1,
            "height": 1,
            "encoding": "jpeg",
            "image": b"x" * 100,
            "source": "",
        }
    )
    with pytest.raises(SchemaError, match="Corrupt"):
        decode_any(payload[:40])


def test_encoding_a_wrong_record_names_the_schema() -> None:
    with pytest.raises(SchemaError, match="FrameCaptured"):
        codec("FrameCaptured").encode({"camera_id": "x"})


def test_decode_checks_the_expected_schema() -> None:
    payload = codec("DeadLetter").encode(_dead_letter())
    with pytest.raises(SchemaError, match=r"Expected an its\.v1\.FrameCaptured"):
        codec("FrameCaptured").decode(payload)


points = st.lists(st.fixed_dictionaries({"x": st.floats(0, 1), "y": st.floats(0, 1)}), min_size=4, max_size=4)
camera_configs = st.fixed_dictionaries(
    {
        "camera_id": st.text(),
        "name": st.text(),
        "source_url": st.text(),
        "source_secret": st.none() | st.text(),
        "protocol": st.sampled_from(["AUTO", "RTSP_TCP", "RTSP_UDP", "HTTP_MJPEG", "HLS", "WHEP", "FILE", "FFMPEG"]),
        "target_fps": st.floats(allow_nan=False),
        "max_width": ints,
        "max_height": ints,
        "jpeg_quality": ints,
        "enabled": st.booleans(),
        "decode": st.sampled_from(["AUTO", "ALL", "KEYFRAMES"]),
        "loop": st.booleans(),
        "lines": st.lists(
            st.fixed_dictionaries(
                {
                    "line_id": st.text(),
                    "name": st.text(),
                    "x1": st.floats(0, 1),
                    "y1": st.floats(0, 1),
                    "x2": st.floats(0, 1),
                    "y2": st.floats(0, 1),
                    "in_direction": st.sampled_from(["LEFT_TO_RIGHT", "RIGHT_TO_LEFT"]),
                    "one_way": st.booleans(),
                }
            ),
            max_size=3,
        ),
        "zones": st.lists(
            st.fixed_dictionaries({"zone_id": st.text(), "name": st.text(), "kind": st.text(), "points": points}),
            max_size=2,
        ),
        "calibration": st.none() | st.fixed_dictionaries({"image_points": points, "ground_points": points}),
        "blur_persons": st.booleans(),
        "updated_at": timestamps,
    }
)
statuses = st.fixed_dictionaries(
    {
        "camera_id": st.text(),
        "status": st.sampled_from(["ONLINE", "DEGRADED", "OFFLINE", "DISABLED"]),
        "previous": st.none() | st.sampled_from(["ONLINE", "DEGRADED", "OFFLINE", "DISABLED"]),
        "reason": st.text(),
        "error": st.none() | st.text(),
        "changed_at": timestamps,
        "last_frame_at": st.none() | timestamps,
        "measured_fps": st.floats(allow_nan=False),
        "target_fps": st.floats(allow_nan=False),
        "width": st.none() | ints,
        "height": st.none() | ints,
        "reconnects": longs,
        "frames_produced": longs,
        "frames_dropped": longs,
        "worker": st.text(),
        "source": st.text(),
    }
)


@settings(max_examples=50)
@given(camera_configs)
def test_camera_config_round_trips(record: CameraConfig) -> None:
    assert codec("CameraConfig").decode(codec("CameraConfig").encode(record)) == record


@settings(max_examples=50)
@given(statuses)
def test_camera_status_changed_round_trips(record: CameraStatusChanged) -> None:
    assert codec("CameraStatusChanged").decode(codec("CameraStatusChanged").encode(record)) == record


def test_an_older_detections_payload_still_decodes_with_the_new_fields_defaulted() -> None:
    from schemas.serde import Codec, history_files

    old = next(
        c
        for c in (Codec("DetectionsProduced", t) for t in history_files()["DetectionsProduced"])
        if c.fingerprint.hex() == "7ca883c7a2760d57"
    )
    assert old.fingerprint.hex() == "7ca883c7a2760d57"
    record = {
        "camera_id": "c1",
        "frame_seq": 7,
        "captured_at": datetime(2026, 1, 1, tzinfo=UTC),
        "produced_at": datetime(2026, 1, 1, tzinfo=UTC),
        "width": 1280,
        "height": 720,
        "model": {"name": "yolo11n", "sha256": "ab", "backend": "onnxruntime", "imgsz": 640},
        "detections": [],
        "timings": {
            "decode_ms": 1.0,
            "preprocess_ms": 1.0,
            "inference_ms": 2.0,
            "postprocess_ms": 1.0,
            "batch_size": 1,
        },
    }
    name, got = decode_any(old.encode(record))
    assert name == "DetectionsProduced"
    assert got["model"]["version"] == "" and got["model"]["precision"] == "fp32" and got["model"]["class_names"] == []
    assert got["timings"]["queued_ms"] == 0.0 and got["timings"]["total_ms"] == 0.0
    assert got["frame_seq"] == 7
    assert got["report_confidence"] == 0.0  # written before low-score detections existed: every box is reported
    assert codec("DetectionsProduced").fingerprint.hex() == FINGERPRINTS["DetectionsProduced"]


finite = st.floats(allow_nan=False, allow_infinity=False)
vehicle_events = st.fixed_dictionaries(
    {
        "event_id": st.text(),
        "camera_id": st.text(),
        "line_id": st.text(),
        "line_name": st.text(),
        "track_id": longs,
        "direction": st.sampled_from(["IN", "OUT"]),
        "motion": st.sampled_from(["UP", "DOWN", "LEFT", "RIGHT"]),
        "class_name": st.text(),
        "class_id": ints,
        "confidence": finite,
        "frame_seq": longs,
        "crossed_at": timestamps,
        "x": finite,
        "y": finite,
        "speed_kmh": st.none() | finite,
    }
)
incidents = st.fixed_dictionaries(
    {
        "incident_id": st.text(),
        "camera_id": st.text(),
        "type": st.sampled_from(["STOPPED_VEHICLE", "WRONG_WAY", "CONGESTION", "CAMERA_OFFLINE"]),
        "state": st.sampled_from(["OPEN", "CLOSED"]),
        "started_at": timestamps,
        "ended_at": st.none() | timestamps,
        "track_id": st.none() | longs,
        "class_name": st.none() | st.text(),
        "line_id": st.none() | st.text(),
        "zone_id": st.none() | st.text(),
        "value": st.none() | finite,
        "detail": st.text(),
    }
)
stats_windows = st.fixed_dictionaries(
    {
        "camera_id": st.text(),
        "window_start": timestamps,
        "window_end": timestamps,
        "frames": longs,
        "counts": st.lists(
            st.fixed_dictionaries(
                {
                    "line_id": st.text(),
                    "class_name": st.text(),
                    "direction": st.sampled_from(["IN", "OUT"]),
                    "count": longs,
                }
            ),
            max_size=4,
        ),
        "vehicles": longs,
        "mean_speed_kmh": st.none() | finite,
        "speed_samples": longs,
        "mean_occupancy": finite,
        "late_frames": longs,
        "closed_by": st.sampled_from(["NEXT_FRAME", "CAMERA_STOPPED"]),
        "missing_frames": longs,
        "stale_frames": longs,
        "complete": st.booleans(),
    }
)


@settings(max_examples=50)
@given(vehicle_events)
def test_vehicle_counted_round_trips(record: VehicleCounted) -> None:
    assert codec("VehicleCounted").decode(codec("VehicleCounted").encode(record)) == record


@settings(max_examples=50)
@given(incidents)
def test_incident_detected_round_trips(record: IncidentDetected) -> None:
    assert codec("IncidentDetected").decode(codec("IncidentDetected").encode(record)) == record


@settings(max_examples=50)
@given(stats_windows)
def test_traffic_stats_window_round_trips(record: TrafficStatsWindow) -> None:
    assert codec("TrafficStatsWindow").decode(codec("TrafficStatsWindow").encode(record)) == record


def test_an_older_camera_config_still_decodes_with_lines_two_way() -> None:
    from schemas.serde import Codec, history_files

    old = Codec("CameraConfig", history_files()["CameraConfig"][0])
    assert old.fingerprint.hex() == "17a16142f9ff2cbc"
    line = {"line_id": "l1", "name": "", "x1": 0.0, "y1": 0.5, "x2": 1.0, "y2": 0.5, "in_direction": "LEFT_TO_RIGHT"}
    record = {
        "camera_id": "c1",
        "source_url": "rtsp://x",
        "lines": [line],
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    name, got = decode_any(old.encode(record))
    assert name == "CameraConfig"
    assert got["lines"] == [{**line, "one_way": False}]


def test_records_of_the_schemas_before_backpressure_decode_with_the_new_fields_defaulted() -> None:
    """Frames, detections and windows written before run numbering and window completeness: no run (no gap can be
    found) and a complete window, as they were read before."""
    from schemas.serde import Codec, history_files

    at = datetime(2026, 1, 1, tzinfo=UTC)
    frame = {
        "camera_id": "c1",
        "frame_seq": 3,
        "captured_at": at,
        "source_pts_us": None,
        "width": 2,
        "height": 2,
        "encoding": "jpeg",
        "image": b"x",
        "source": "",
    }
    old = Codec("FrameCaptured", history_files()["FrameCaptured"][0])
    assert old.fingerprint.hex() == "c72dabf182f02429"
    got = codec("FrameCaptured").decode(old.encode(frame))
    assert (got["run_start_seq"], got["run_index"]) == (None, None)
    window = {
        "camera_id": "c1",
        "window_start": at,
        "window_end": at,
        "frames": 5,
        "counts": [],
        "vehicles": 1,
        "mean_speed_kmh": None,
        "speed_samples": 0,
        "mean_occupancy": 0.0,
        "late_frames": 0,
        "closed_by": "NEXT_FRAME",
    }
    old = Codec("TrafficStatsWindow", history_files()["TrafficStatsWindow"][0])
    got = codec("TrafficStatsWindow").decode(old.encode(window))
    assert (got["missing_frames"], got["stale_frames"], got["complete"]) == (0, 0, True)
