"""Camera commands: POST/PUT/PATCH/DELETE /v1/cameras[/{camera_id}] append a CameraConfig (or a tombstone) to
its.cameras.v1 keyed by camera_id and answer 202; the projector applies it to the read models like any event.

A body is checked by the typed CameraConfig model of schemas.camera_model (the one the OpenAPI document is
generated from); a failure is a 422 naming the field.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
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
from schemas.cameras import CameraConfigError, redact, validate_camera
from schemas.serde import codec

__all__ = ["create_camera", "delete_camera", "patch_camera", "put_camera", "validate_body"]

_MAX_BODY = 256 * 1024


def _invalid(name: str, reason: str, detail: str | None = None) -> Problem:
    return Problem(
        422,
        detail or f"Field '{name}' {reason}.",
        invalid_params=[{"name": name, "reason": reason}],
    )


def validate_body(body: Any, path_id: str | None) -> dict[str, Any]:
    """A complete CameraConfig (updated_at now) from a JSON body, or a 422 naming the bad field."""
    if not isinstance(body, dict):
        raise _invalid("body", "must be a JSON object")
    if "updated_at" in body:
        raise _invalid("updated_at", "is set by the API; leave it out")
    if path_id is not None and body.setdefault("camera_id", path_id) != path_id:
        raise _invalid("camera_id", f"must be {path_id!r}, the camera of the URL")
    try:
        return dict(validate_camera({**body, "updated_at": datetime.now(UTC)}))
    except CameraConfigError as e:
        raise _invalid(e.field, e.reason, str(e)) from None


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
