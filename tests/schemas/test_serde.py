import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import MAGIC, SchemaError, UnknownSchemaError, codec, decode_any, schema_files
from schemas.events import DeadLetter, DetectionsProduced, FrameCaptured

# Pinned on purpose: a changed fingerprint means a changed wire contract. If you changed a schema on
# purpose, keep it backward/forward compatible and update the value here in the same commit.
FINGERPRINTS = {
    "FrameCaptured": "c72dabf182f02429",
    "DetectionsProduced": "7ca883c7a2760d57",
    "DeadLetter": "58fcb3d8f29a5ab2",
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
        "model": st.fixed_dictionaries({"name": st.text(), "sha256": st.text(), "backend": st.text(), "imgsz": ints}),
        "detections": st.lists(detection, max_size=20),
        "timings": st.fixed_dictionaries(
            {"decode_ms": f32, "preprocess_ms": f32, "inference_ms": f32, "postprocess_ms": f32, "batch_size": ints}
        ),
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
