"""Camera commands: POST/PUT/PATCH/DELETE /v1/cameras[/{camera_id}] append a CameraConfig (or a tombstone) to
its.cameras.v1 keyed by camera_id and answer 202; the projector applies it to the read models like any event.

A body is checked field by field against the CameraConfig Avro schema, then by schemas.cameras' range checks;
either failure is a 422 naming the field.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from projections import queries
from projections.api.deps import deps
from projections.api.encode import json_response
from projections.api.params import camera_id
from projections.api.problems import Problem
from projections.api.producer import KafkaDown
from projections.api.routes_cameras import not_found
from schemas.cameras import CameraConfigError, camera_config, redact
from schemas.serde import codec, schema_files

__all__ = ["create_camera", "delete_camera", "patch_camera", "put_camera", "validate_body"]

_MAX_BODY = 256 * 1024
_INT = (-(2**31), 2**31 - 1)
_LONG = (-(2**63), 2**63 - 1)


@cache
def _avro() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_files()["CameraConfig"])
    return schema


@cache
def _named() -> dict[str, Any]:
    """Every named type of the schema by name, so a reference (e.g. "Point") resolves wherever it is used."""
    out: dict[str, Any] = {}

    def walk(t: Any) -> None:
        if isinstance(t, list):
            for u in t:
                walk(u)
        elif isinstance(t, dict):
            if t.get("type") in ("record", "enum"):
                out[t["name"]] = t
            for f in t.get("fields", []):
                walk(f["type"])
            if t.get("type") == "array":
                walk(t["items"])

    walk(_avro())
    return out


def _invalid(name: str, reason: str, detail: str | None = None) -> Problem:
    return Problem(
        422,
        detail or f"Field '{name}' {reason}.",
        invalid_params=[{"name": name, "reason": reason}],
    )


def _check(t: Any, v: Any, path: str, named: dict[str, Any]) -> Any:
    """`v` converted to what fastavro writes for Avro type `t`, or a 422 naming `path`."""
    if isinstance(t, list):  # union: only ["null", X] in CameraConfig
        if v is None and "null" in t:
            return None
        others = [u for u in t if u != "null"]
        return _check(others[0], v, path, named)
    if isinstance(t, str) and t in named:
        t = named[t]
    kind = t if isinstance(t, str) else t["type"]
    if kind == "string":
        if not isinstance(v, str):
            raise _invalid(path, "must be a string")
        if "\x00" in v:
            raise _invalid(path, "must not contain NUL characters")
        try:
            v.encode()
        except UnicodeEncodeError:
            raise _invalid(path, "must be valid Unicode text (no lone surrogates)") from None
        return v
    if kind in ("int", "long"):
        lo, hi = _INT if kind == "int" else _LONG
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _invalid(path, f"must be an integer from {lo} to {hi}")
        return v
    if kind == "double":
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise _invalid(path, "must be a finite number")
        return float(v)
    if kind == "boolean":
        if not isinstance(v, bool):
            raise _invalid(path, "must be true or false")
        return v
    if kind == "enum":
        named[t["name"]] = t
        if v not in t["symbols"]:
            raise _invalid(path, f"must be one of {t['symbols']}")
        return v
    if kind == "array":
        if not isinstance(v, list):
            raise _invalid(path, "must be an array")
        if len(v) > 1000:
            raise _invalid(path, "must have at most 1000 items")
        return [_check(t["items"], item, f"{path}[{i}]", named) for i, item in enumerate(v)]
    if kind == "record":
        named[t["name"]] = t
        return _record(t, v, path, named)
    raise AssertionError(f"unexpected Avro type {t!r}")


def _record(t: dict[str, Any], v: Any, path: str, named: dict[str, Any], partial: bool = False) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _invalid(path or "body", "must be a JSON object")
    fields = {f["name"]: f for f in t["fields"]}
    for k in v:
        if k not in fields:
            name = f"{path}.{k}" if path else k
            raise _invalid(name, f"is not a field of {t['name']}; known: {sorted(fields)}")
    out: dict[str, Any] = {}
    for name, f in fields.items():
        where = f"{path}.{name}" if path else name
        if name in v:
            out[name] = _check(f["type"], v[name], where, named)
        elif "default" in f:
            out[name] = f["default"]
        elif not partial:
            raise _invalid(where, "is required")
    return out


def validate_body(body: Any, path_id: str | None) -> dict[str, Any]:
    """A complete CameraConfig (updated_at now) from a JSON body, or a 422 naming the bad field."""
    if isinstance(body, dict) and "updated_at" in body:
        raise _invalid("updated_at", "is set by the API; leave it out")
    if path_id is not None and isinstance(body, dict) and body.setdefault("camera_id", path_id) != path_id:
        raise _invalid("camera_id", f"must be {path_id!r}, the camera of the URL")
    record = _record(_avro(), {**body, "updated_at": 0} if isinstance(body, dict) else body, "", dict(_named()))
    record.pop("updated_at")
    cid, src = record.pop("camera_id"), record.pop("source_url")
    try:
        return dict(camera_config(cid, src, **record, updated_at=datetime.now(UTC)))
    except CameraConfigError as e:
        raise _invalid(_field_of(str(e)), "is out of range", str(e)) from None


def _field_of(message: str) -> str:
    m = re.search(r"\b(source_url|protocol|decode|target_fps|jpeg_quality|max_width|max_height|calibration)\b", message)
    if m:
        return m.group(1)
    for word, name in (("line", "lines"), ("zone", "zones"), ("Camera id", "camera_id")):
        if word in message:
            return name
    return "body"


async def _body(request: Request) -> Any:
    if request.headers.get("content-type", "").split(";")[0].strip() not in ("application/json", ""):
        raise Problem(415, "Send the camera as JSON (Content-Type: application/json).")
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise Problem(413, f"The body is larger than {_MAX_BODY} bytes.")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise Problem(400, "The body is not JSON; send a CameraConfig object.") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _append(request: Request, cfg: dict[str, Any] | None, cam: str) -> Response:
    d = deps(request)
    value = codec("CameraConfig").encode(cfg) if cfg is not None else None
    try:
        await d.commands.send(d.settings.cameras_topic, cam, value)
    except KafkaDown as e:
        raise Problem(
            503,
            f"Kafka did not acknowledge the command for camera {cam!r} ({e}); nothing was changed, retry shortly.",
            headers={"Retry-After": "5"},
        ) from None
    if cfg is None:
        return json_response({"accepted": {"camera_id": cam, "deleted": True}}, status=202)
    shown = {**cfg, "source_url": redact(cfg["source_url"]), "updated_at": cfg["updated_at"].isoformat()}
    return json_response({"accepted": shown}, status=202)


async def create_camera(request: Request) -> Response:
    body = await _body(request)
    cfg = validate_body(body, None)
    d = deps(request)
    async with d.pool.connection() as conn:
        if await queries.camera_config(conn, cfg["camera_id"]) is not None:
            raise Problem(
                409,
                f"Camera {cfg['camera_id']!r} exists; change it with PUT or PATCH /v1/cameras/{cfg['camera_id']}.",
            )
    return await _append(request, cfg, cfg["camera_id"])


async def put_camera(request: Request) -> Response:
    cam = camera_id(request)
    cfg = validate_body(await _body(request), cam)
    return await _append(request, cfg, cam)


async def patch_camera(request: Request) -> Response:
    """A JSON merge patch (RFC 7396) of the top-level fields onto the configuration stored in PostgreSQL."""
    cam = camera_id(request)
    patch = await _body(request)
    if not isinstance(patch, dict):
        raise _invalid("body", "must be a JSON object of the fields to change")
    d = deps(request)
    async with d.pool.connection() as conn:
        current = await queries.camera_config(conn, cam)
    if current is None:
        raise not_found(cam)
    current.pop("updated_at", None)
    merged = {k: v for k, v in {**current, **patch}.items() if v is not None or k == "calibration"}
    cfg = validate_body(merged, cam)
    return await _append(request, cfg, cam)


async def delete_camera(request: Request) -> Response:
    cam = camera_id(request)
    d = deps(request)
    async with d.pool.connection() as conn:
        if not await queries.camera_known(conn, cam):
            raise not_found(cam)
    return await _append(request, None, cam)
