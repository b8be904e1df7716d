"""Messages for a CameraConfig that fails its model: each names the field, what was found and the fix.

Private to schemas.cameras, which raises them as CameraConfigError for the CLI, the ingest workers and the API's 422
problems. The numeric bounds quoted come from the model's own constraints; the camera id, line, zone and
calibration messages spell out theirs.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from schemas import camera_model as cm

__all__ = ["describe", "path_of"]

#: errors about a value the type allows but the contract does not (reported on the top-level field)
_RANGE = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "too_short",
    "too_long",
    "finite_number",
    "string_pattern_mismatch",
    "string_too_short",
}
_TYPE_REASONS = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be an array",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "datetime_type": "must be a datetime",
    "missing": "is required",
}


def path_of(loc: tuple[int | str, ...]) -> str:
    """("lines", 0, "y2") -> "lines[0].y2"; () -> "body"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "body"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model inside `annotation` (list[M], M | None, M)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _walk(loc: tuple[int | str, ...]) -> tuple[type[BaseModel], FieldInfo | None]:
    """The model holding the last named part of `loc`, and that field's FieldInfo (None: unknown field)."""
    model: type[BaseModel] = cm.CameraConfig
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        if info is not None:
            model = _model_of(info.annotation) or model
        info = model.model_fields.get(part)
    return model, info


def _symbols(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(a) for a in get_args(annotation)]
    if get_origin(annotation) in (Union, types.UnionType):
        return [s for a in get_args(annotation) for s in _symbols(a)]
    return []


def _bounds(info: FieldInfo) -> str:
    lo: Any = None
    hi: Any = None
    lo_open = hi_open = False
    for m in info.metadata:
        if isinstance(m, at.Gt | at.Ge):
            lo, lo_open = (m.gt, True) if isinstance(m, at.Gt) else (m.ge, False)
        elif isinstance(m, at.Lt | at.Le):
            hi, hi_open = (m.lt, True) if isinstance(m, at.Lt) else (m.le, False)
    if info.annotation is int:
        return f"use {lo}-{hi}"
    return f"use a value in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _get(cfg: Any, key: str) -> Any:
    return cfg.get(key) if isinstance(cfg, Mapping) else None


def describe(cfg: Any, err: ErrorDetails) -> tuple[str, str, str]:
    """(message, field, reason) for the first error of validating `cfg`: `field` is the full path for an error of
    shape (missing, unknown or mistyped field), the top-level field for a value out of range."""
    loc = tuple(err["loc"])
    path = path_of(loc)
    cid = _get(cfg, "camera_id")
    who = f"Camera {cid}: " if isinstance(cid, str) and cid else ""
    kind = err["type"]
    model, info = _walk(loc)
    if kind not in _RANGE:
        if kind == "extra_forbidden":
            reason = f"is not a field of {model.__name__}; known: {sorted(model.model_fields)}"
        elif kind == "literal_error":
            symbols = _symbols(info.annotation) if info else []
            reason = f"must be one of {symbols}"
            return f"{who}{path} {_shown(repr(err['input']))} is not one of {symbols}.", path, reason
        else:
            reason = _TYPE_REASONS.get(kind, err["msg"])
        return f"{who}field '{path}' {reason}.", path, reason
    top = str(loc[0])
    value = err["input"]
    reason = "is out of range"
    if top == "camera_id":
        msg = (
            f"Camera id {_shown(repr(value))} is not valid: use 1-128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit (it becomes the Kafka key and a URL path segment)."
        )
    elif top == "source_url":
        msg = f"{who}source_url is empty; give an rtsp://, http(s)://, whep:// URL or a path."
        reason = "is empty"
    elif len(loc) == 1 and top in ("lines", "zones"):
        msg = f"{who}{top} has {len(value)} items; use at most {cm.MAX_ITEMS}."
    elif top == "lines":
        line = _get(cfg, "lines")[loc[1]]
        coords = tuple(_get(line, k) for k in ("x1", "y1", "x2", "y2"))
        msg = (
            f"{who}line {_get(line, 'line_id')!r} has coordinates {coords} outside 0..1; lines use normalised image "
            "coordinates (x / width, y / height)."
        )
    elif top == "zones":
        zone = _get(cfg, "zones")[loc[1]]
        pts = [(_get(p, "x"), _get(p, "y")) for p in _get(zone, "points") or []]
        msg = (
            f"{who}zone {_get(zone, 'zone_id')!r} needs at least 3 points in normalised image coordinates (0..1); "
            f"found {pts}."
        )
    elif top == "calibration":
        msg = f"{who}calibration needs exactly 4 image points and their 4 ground points in metres."
    elif info is not None:
        msg = f"{who}{top} {_shown(value)} is out of range; {_bounds(info)}."
    else:
        msg = f"{who}{path} {_shown(repr(value))}: {err['msg']}."
    return msg, top, reason
