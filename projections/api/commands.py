"""Camera commands: POST/PUT/PATCH/DELETE /v1/cameras[/{camera_id}] append a CameraConfig (or a tombstone) to
its.cameras.v1 keyed by camera_id and answer 202; the projector applies it to the read models like any event.

A body is checked by the typed CameraConfig model of schemas.camera_model (the one the OpenAPI document is
generated from); a failure is a 422 naming the field. A source the source policy refuses (schemas/source_policy.py:
a file, loopback, link-local/metadata, cluster or denied address, a scheme the protocol does not use) is a 422 on
source_url naming the rule. Credentials in source_url (user:password@, ?token=...) are sealed for ingest into
source_secret (schemas/credentials.py, ITS_CAMERA_SEAL_PUBLIC_KEY) before the record is written: the topic, the
read model and every answer hold the URL redacted; no key configured is a 422 naming the setting.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from projections import queries
from projections.api import versions
from projections.api.deps import deps
from projections.api.encode import json_response
from projections.api.params import camera_id
from projections.api.privacy import audit_blur_off, blur_turned_off, purge_headers
from projections.api.problems import Problem
from projections.api.producer import KafkaDown
from projections.api.routes_cameras import check_if_match, not_found
from schemas.cameras import CameraConfigError, validate_camera
from schemas.credentials import display_url, seal_source
from schemas.serde import codec
from schemas.source_policy import SourcePolicy, SourceRefused, check_source

__all__ = ["create_camera", "delete_camera", "patch_camera", "put_camera", "validate_body"]

log = logging.getLogger(__name__)

_MAX_BODY = 256 * 1024


def _invalid(name: str, reason: str, detail: str | None = None) -> Problem:
    return Problem(
        422,
        detail or f"Field '{name}' {reason}.",
        invalid_params=[{"name": name, "reason": reason}],
    )


def validate_body(body: Any, path_id: str | None, sealed: str | None = None) -> dict[str, Any]:
    """A complete CameraConfig (updated_at now; source_secret `sealed`, the stored one kept by a PATCH) from a JSON
    body, or a 422 naming the bad field."""
    if not isinstance(body, dict):
        raise _invalid("body", "must be a JSON object")
    if "updated_at" in body:
        raise _invalid("updated_at", "is set by the API; leave it out")
    if "source_secret" in body:
        raise _invalid("source_secret", "is set by the API from source_url's credentials; leave it out")
    body = {**body, "source_secret": sealed}
    if path_id is not None and body.setdefault("camera_id", path_id) != path_id:
        raise _invalid("camera_id", f"must be {path_id!r}, the camera of the URL")
    try:
        return dict(validate_camera({**body, "updated_at": datetime.now(UTC)}))
    except CameraConfigError as e:
        raise _invalid(e.field, e.reason, str(e)) from None


async def check_policy(request: Request, cfg: dict[str, Any]) -> None:
    """A 422 naming the rule when the source policy refuses the camera's source (app.state.source_policy, else
    ITS_SOURCE_* from the environment); its host is resolved off the event loop."""
    policy = getattr(request.app.state, "source_policy", None) or SourcePolicy()
    try:
        await asyncio.to_thread(check_source, cfg["source_url"], cfg["protocol"], policy)
    except SourceRefused as e:
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


async def _append(
    request: Request,
    cfg: dict[str, Any] | None,
    cam: str,
    headers: list[tuple[str, str | bytes | None]] | None = None,
) -> Response:
    d = deps(request)
    if cfg is not None:
        try:
            cfg = seal_source(cfg)  # credentials leave only sealed for ingest
        except CameraConfigError as e:  # CredentialsError, or a redacted URL without its sealed original
            raise _invalid(e.field, e.reason, str(e)) from None
    value = codec("CameraConfig").encode(cfg) if cfg is not None else None
    blur_off = cfg is not None and await blur_turned_off(request, cfg)
    try:
        await d.commands.send(d.settings.cameras_topic, cam, value, headers)
    except KafkaDown as e:
        log.warning("camera command not acknowledged", extra={"camera_id": cam, "error": str(e)})
        raise Problem(
            503,
            f"Kafka did not acknowledge the command for camera {cam!r}; nothing was changed, retry shortly. "
            "/ready shows `commands`.",
            headers={"Retry-After": "5"},
        ) from None
    if blur_off:
        audit_blur_off(request, cam)
    if cfg is None:
        accepted = {"camera_id": cam, "deleted": True, "purged": bool(headers)}
        return json_response({"accepted": accepted}, status=202)
    shown = {**cfg, "source_url": display_url(cfg["source_url"]), "updated_at": cfg["updated_at"].isoformat()}
    shown.pop("source_secret", None)  # sealed for ingest: never answered
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
    tag = await check_if_match(request, cfg["camera_id"], cfg["updated_at"])  # no If-Match: claims the version
    return await _append_claimed(request, cfg, cfg["camera_id"], tag)


async def put_camera(request: Request) -> Response:
    cam = camera_id(request)
    body = await _body(request)
    sealed = None
    if isinstance(body, dict) and isinstance(body.get("source_url"), str) and "***" in body["source_url"]:
        # the redacted URL a GET answered: keep the credentials sealed with it
        async with deps(request).pool.connection() as conn:
            current = await queries.camera_config(conn, cam)
        if current is not None and current.get("source_url") == body["source_url"]:
            sealed = current.get("source_secret")
    cfg = validate_body(body, cam, sealed)
    tag = await check_if_match(request, cam, cfg["updated_at"])  # If-Match/ETag: a stale tag is a 412
    return await _append_claimed(request, cfg, cam, tag)


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
    if "source_secret" in patch:
        raise _invalid("source_secret", "is set by the API from source_url's credentials; leave it out")
    # the sealed credentials go with the stored URL: kept unless the patch gives a new URL
    sealed = None if "source_url" in patch else current.get("source_secret")
    current.pop("source_secret", None)
    merged = {k: v for k, v in {**current, **patch}.items() if v is not None or k == "calibration"}
    cfg = validate_body(merged, cam, sealed)
    tag = await check_if_match(request, cam, cfg["updated_at"])  # If-Match/ETag: a stale tag is a 412
    return await _append_claimed(request, cfg, cam, tag)


async def _append_claimed(request: Request, cfg: dict[str, Any], cam: str, tag: str) -> Response:
    """Send a camera command whose version `tag` was claimed; a refusal (policy, Kafka) gives the tag back."""
    try:
        await check_policy(request, cfg)
        return await _append(request, cfg, cam)
    except BaseException:
        await versions.release(deps(request), cam, tag)
        raise


async def delete_camera(request: Request) -> Response:
    """A tombstone; with ?purge=true it carries `its-purge: 1` and the projector purges the camera's rows and
    Redis keys (projections/purge.py)."""
    cam = camera_id(request)
    headers = purge_headers(request)
    d = deps(request)
    async with d.pool.connection() as conn:
        if not await queries.camera_known(conn, cam):
            raise not_found(cam)
    answer = await _append(request, None, cam, headers)
    await versions.forget(deps(request), cam)
    return answer
