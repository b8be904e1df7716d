"""The typed CameraConfig models agree with camera_config.avsc: field names and order, types, enum symbols,
defaults and required fields. Any drift (a new field, a renamed symbol, a changed default) fails here."""

from __future__ import annotations

import copy
import json
import types
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from schemas import camera_model as cm
from schemas.cameras import CameraConfigError, camera_config, decode_camera
from schemas.serde import codec, schema_files

_PRIMITIVES: dict[str, type] = {"string": str, "int": int, "long": int, "double": float, "boolean": bool}


def _mismatches(avro: Any, annotation: Any, where: str, named: dict[str, Any]) -> list[str]:
    """How the Python `annotation` of a model field differs from the Avro type `avro`."""
    if isinstance(avro, str) and avro in named:
        avro = named[avro]
    if isinstance(avro, list):
        others = [t for t in avro if t != "null"]
        args = [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) not in (Union, types.UnionType) or len(args) != 1 or len(others) != 1:
            return [f"{where}: Avro union {avro} but model {annotation}"]
        return _mismatches(others[0], args[0], where, named)
    kind = avro if isinstance(avro, str) else avro["type"]
    if isinstance(avro, dict) and avro.get("logicalType") == "timestamp-micros":
        return [] if annotation is datetime else [f"{where}: Avro timestamp but model {annotation}"]
    if kind in _PRIMITIVES:
        return [] if annotation is _PRIMITIVES[kind] else [f"{where}: Avro {kind} but model {annotation}"]
    if kind == "enum":
        named[avro["name"]] = avro
        if get_origin(annotation) is not Literal or list(get_args(annotation)) != avro["symbols"]:
            return [f"{where}: Avro enum {avro['symbols']} but model {annotation}"]
        return []
    if kind == "array":
        if get_origin(annotation) is not list:
            return [f"{where}: Avro array but model {annotation}"]
        return _mismatches(avro["items"], get_args(annotation)[0], f"{where}[]", named)
    if kind == "record":
        named[avro["name"]] = avro
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return [f"{where}: Avro record {avro['name']} but model {annotation}"]
        return record_mismatches(avro, annotation, where, named)
    return [f"{where}: unexpected Avro type {avro!r}"]


def record_mismatches(record: dict[str, Any], model: type[BaseModel], where: str, named: dict[str, Any]) -> list[str]:
    if record["name"] not in [c.__name__ for c in model.__mro__]:
        return [f"{where or 'record'}: Avro record {record['name']} but model {model.__name__}"]
    out: list[str] = []
    names = [f["name"] for f in record["fields"]]
    if names != list(model.model_fields):
        out.append(f"{where or record['name']}: Avro fields {names} but model fields {list(model.model_fields)}")
    for f in record["fields"]:
        info = model.model_fields.get(f["name"])
        at = f"{where}.{f['name']}" if where else f["name"]
        if info is None:
            continue
        if ("default" in f) == info.is_required():
            out.append(f"{at}: Avro {'has a default' if 'default' in f else 'is required'}, the model does not agree")
        elif "default" in f and info.default != f["default"]:
            out.append(f"{at}: Avro default {f['default']!r} but model default {info.default!r}")
        out += _mismatches(f["type"], info.annotation, at, named)
    return out


def _avsc() -> dict[str, Any]:
    avsc: dict[str, Any] = json.loads(schema_files()["CameraConfig"])
    return avsc


def test_the_models_agree_with_the_avro_schema() -> None:
    assert record_mismatches(_avsc(), cm.CameraConfig, "", {}) == []


def _field(avsc: dict[str, Any], name: str) -> dict[str, Any]:
    field: dict[str, Any] = next(f for f in avsc["fields"] if f["name"] == name)
    return field


def _change_default(avsc: dict[str, Any]) -> None:
    _field(avsc, "target_fps")["default"] = 12.5


def _add_symbol(avsc: dict[str, Any]) -> None:
    _field(avsc, "protocol")["type"]["symbols"].append("SRT")


def _add_field(avsc: dict[str, Any]) -> None:
    avsc["fields"].insert(3, {"name": "site", "type": "string", "default": ""})


def _nested_default(avsc: dict[str, Any]) -> None:
    line = _field(avsc, "lines")["type"]["items"]
    next(f for f in line["fields"] if f["name"] == "in_direction")["default"] = "RIGHT_TO_LEFT"


def _retype(avsc: dict[str, Any]) -> None:
    _field(avsc, "max_width")["type"] = "double"


def _required(avsc: dict[str, Any]) -> None:
    del _field(avsc, "name")["default"]


@pytest.mark.parametrize("change", [_change_default, _add_symbol, _add_field, _nested_default, _retype, _required])
def test_a_schema_the_models_do_not_follow_is_reported(change: Any) -> None:
    avsc = copy.deepcopy(_avsc())
    change(avsc)
    assert record_mismatches(avsc, cm.CameraConfig, "", {}) != []


def test_the_body_model_is_the_record_without_updated_at() -> None:
    assert list(cm.CameraConfigBody.model_fields) == [f["name"] for f in _avsc()["fields"]][:-1]
    assert cm.PROTOCOLS[0] == "AUTO" and "KEYFRAMES" in cm.DECODE_MODES


@pytest.mark.parametrize(("value", "ok"), [("a40-east", True), ("c:1.2_x", True), ("-a", False), ("a\n", False)])
def test_camera_id_grammar(value: str, ok: bool) -> None:
    assert cm.is_camera_id(value) is ok


_ANY = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.text(max_size=8))
_UNIT = st.one_of(st.floats(-0.5, 1.5), _ANY)
_LINE = st.fixed_dictionaries(
    {"line_id": st.text(max_size=4), "x1": _UNIT, "y1": _UNIT, "x2": _UNIT, "y2": _UNIT},
    optional={"in_direction": st.sampled_from([*cm.LINE_DIRECTIONS, "UP"]), "one_way": _ANY},
)
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "protocol": st.sampled_from([*cm.PROTOCOLS, "RTMP"]),
        "target_fps": st.one_of(st.floats(-1, 100), _ANY),
        "max_width": st.one_of(st.integers(-5, 20_000), _ANY),
        "jpeg_quality": st.one_of(st.integers(-5, 105), _ANY),
        "lines": st.one_of(st.lists(_LINE, max_size=3), _ANY),
        "zones": st.lists(
            st.fixed_dictionaries(
                {"zone_id": st.text(max_size=4), "points": st.lists(st.fixed_dictionaries({"x": _UNIT, "y": _UNIT}))}
            ),
            max_size=2,
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(camera_id=st.one_of(st.just("cam-1"), st.text(max_size=6)), fields=_FIELDS)
def test_a_config_the_model_accepts_round_trips_through_avro(camera_id: str, fields: dict[str, Any]) -> None:
    """Whatever the model accepts, the Avro schema encodes unchanged; whatever it rejects is a CameraConfigError
    naming a field."""
    try:
        cfg = camera_config(camera_id, "rtsp://cam/1", **fields)
    except CameraConfigError as e:
        assert e.field and e.reason and str(e)
        return
    assert decode_camera(codec("CameraConfig").encode(cfg)) == cfg
