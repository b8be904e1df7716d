"""The OpenAPI 3.1.0 document of the API (/openapi.json), generated: the components from the typed models (the
answers in projections.api.responses, the camera bodies in schemas.camera_model), the paths from the route table
below (parameters, scopes, success and problem+json responses). /docs renders it (projections.api.docs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from pydantic_core import CoreSchema

from projections.api import responses as r
from projections.api.export import FORMAT_CHOICES
from projections.api.params import TEXT_MAX
from projections.api.routes_counts import DIRECTIONS
from projections.api.routes_fleet import INCIDENT_STATES, INCIDENT_TYPES
from projections.api.settings import ApiSettings
from projections.api.stream import EVENT_TYPES
from projections.queries import BUCKETS
from schemas import camera_model as cm

__all__ = ["ERRORS", "STREAM_TYPES_PATTERN", "Op", "component_schemas", "openapi", "operations"]

S = dict[str, Any]
_TYPES = "|".join(EVENT_TYPES)
STREAM_TYPES_PATTERN = f"^({_TYPES})(,({_TYPES}))*$"
#: status -> (component name, description) of every problem+json response
ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "BadRequest",
        "A query parameter or the cursor is malformed (`invalid_params` names it), or the body is not JSON.",
    ),
    401: ("Unauthorized", "No API key, or an unknown, revoked or malformed one."),
    403: ("Forbidden", "The key lacks the scope this operation needs."),
    404: ("NotFound", "No such camera, incident or route."),
    405: ("MethodNotAllowed", "The path (a path parameter may contain an encoded '/') names another operation."),
    409: ("Conflict", "The camera exists already (POST); use PUT or PATCH."),
    412: (
        "PreconditionFailed",
        "If-Match names an ETag the camera's configuration no longer has (`current_etag`); GET it again.",
    ),
    413: ("TooLarge", "The body is larger than ITS_API_MAX_BODY_BYTES (256 KiB); it was not read."),
    415: ("UnsupportedMediaType", "The body is not application/json."),
    422: ("Unprocessable", "The body is not a valid CameraConfig; `invalid_params` names the field."),
    428: ("PreconditionRequired", "If-Match is required (ITS_API_REQUIRE_IF_MATCH); send the camera's ETag."),
    429: (
        "TooManyRequests",
        "The key is over its rate, or holds the most event streams or downloads allowed (per key or per worker); "
        "retry after Retry-After seconds.",
    ),
    503: (
        "Unavailable",
        "PostgreSQL, Redis or (camera commands) Kafka is unavailable, or a query ran past "
        "ITS_API_STATEMENT_TIMEOUT_MS; retry shortly.",
    ),
}
_READ = (400, 401, 403, 404, 429, 503)
_LIST = (400, 401, 403, 429, 503)
_COMMAND = (400, 401, 403, 404, 412, 413, 415, 422, 428, 429, 503)
_OBJECT: S = {"type": "object"}
_HTML: S = {"text/html": {"schema": {"type": "string"}}}


@dataclass(frozen=True)
class Op:
    """One operation of the route table: `ok` is the answer's model (application/json) or its content map."""

    method: str
    path: str
    op_id: str
    summary: str
    scope: str | None  # None: public, no key
    ok: type[BaseModel] | S
    ok_text: str
    params: tuple[S, ...] = ()
    body: str | None = None  # component name of the JSON body
    status: int = 200
    errors: tuple[int, ...] = _READ
    exports: bool = False  # also answers CSV and Parquet (`format`, Accept; projections.api.export)


def _q(name: str, schema: S, description: str) -> S:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_FORMAT = _q(
    "format",
    {"type": "string", "enum": list(FORMAT_CHOICES), "default": "json"},
    "json, or a streamed file of every row in the range (limit and cursor ignored): csv (also `Accept: text/csv`) "
    "or parquet (also `Accept: application/vnd.apache.parquet`). Columns: docs/exports.md.",
)
_EXPORT_CONTENT: S = {
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
}


def operations(s: ApiSettings) -> list[Op]:
    """The route table, in the document's order."""
    cam: S = {
        "name": "camera_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": cm.CAMERA_ID_PATTERN},
        "description": "Camera id.",
    }
    iid: S = {"name": "incident_id", "in": "path", "required": True}
    iid["schema"] = {"type": "string", "minLength": 1, "maxLength": 256}
    limit = _q("limit", {"type": "integer", "minimum": 1, "maximum": s.max_page, "default": 100}, "Page size.")
    cursor = _q("cursor", {"type": "string", "maxLength": 1024}, "`next_cursor` of the previous page.")
    since = _q("from", {"type": "string", "format": "date-time"}, "Start (inclusive), ISO 8601.")
    until = _q(
        "to", {"type": "string", "format": "date-time"}, "End (exclusive), ISO 8601; default: the end of this minute."
    )
    text: S = {"type": "string", "minLength": 1, "maxLength": TEXT_MAX}
    bucket = _q("bucket", {"type": "string", "enum": list(BUCKETS), "default": "1h"}, "Bucket width.")
    events = (
        _q("line_id", text, "Only this counting line."),
        _q("class", text, "Only this vehicle class (car, truck, bus, motorcycle, bicycle, ...)."),
        _q("direction", {"type": "string", "enum": list(DIRECTIONS)}, "Only this direction."),
    )
    rng = f"Range at most {s.max_range_days} days (ITS_API_MAX_RANGE_DAYS)"
    cache = (
        f"Answers are cached for {s.query_cache_s:g} s ({s.query_cache_closed_s:g} s once `to` is over 2 minutes past)."
    )
    json_object = {"application/json": {"schema": _OBJECT}}
    sent = "Appended to Kafka."
    if_match = {
        "name": "If-Match",
        "in": "header",
        "required": s.require_if_match,
        "schema": {"type": "string"},
        "description": "The ETag of GET /v1/cameras/{camera_id}: a 412 when the configuration changed since. Without "
        "it the last writer wins" + (" (required here: 428)." if s.require_if_match else "."),
    }
    return [
        Op("get", "/health", "health", "Liveness.", None, json_object, "Alive.", errors=()),
        Op("get", "/ready", "ready", "Readiness of the read path: PostgreSQL and Redis answer (503 otherwise). "
           "Kafka is checked too but only the camera commands need it: `commands` is `unavailable` while it is "
           "down. Each check is `ok` or `down`.", None, json_object, "Ready.", errors=(503,)),
        Op("get", "/openapi.json", "openapi", "This document.", None, json_object, "OpenAPI 3.1.0.", errors=()),
        Op("get", "/docs", "docs", "Human-readable reference rendered from this document.", None, _HTML, "HTML.",
           errors=()),
        Op("get", "/ui", "ui", "The analyst web page (it asks for an API key and calls this API).", None, _HTML,
           "HTML.", errors=()),
        Op("get", "/v1/cameras", "listCameras", "Cameras by id (deleted ones left out).", "read", r.CameraPage,
           "A page of cameras.", (limit, cursor), errors=_LIST),
        Op("post", "/v1/cameras", "createCamera",
           "Add a camera: appends its CameraConfig to its.cameras.v1; the projector applies it.", "ops", r.Accepted,
           sent, body="CameraConfigBody", status=202, errors=(400, 401, 403, 409, 413, 415, 422, 429, 503)),
        Op("get", "/v1/cameras/{camera_id}", "getCamera", "One camera. A configured camera's `ETag` header is the "
           "If-Match of PUT and PATCH.", "read", r.Camera, "The camera.", (cam,)),
        Op("put", "/v1/cameras/{camera_id}", "putCamera", "Replace a camera's configuration (creates it if new).",
           "ops", r.Accepted, sent, (cam, if_match), body="CameraConfigPut", status=202, errors=_COMMAND),
        Op("patch", "/v1/cameras/{camera_id}", "patchCamera", "Change some fields of a camera's stored configuration.",
           "ops", r.Accepted, sent, (cam, if_match), body="CameraConfigPatch", status=202, errors=_COMMAND),
        Op("delete", "/v1/cameras/{camera_id}", "deleteCamera", "Remove a camera (a tombstone on its.cameras.v1).",
           "ops", r.AcceptedDelete, sent, (cam, _q("purge", {"type": "string", "enum": ["true", "false"],
           "default": "false"}, "true: the projector also deletes every read-model row and Redis key of the camera "
           "(audited); false keeps its history queryable.")), status=202),
        Op("get", "/v1/cameras/{camera_id}/live", "getLive", "Latest frame, status and today's counters (from Redis).",
           "read", r.Live, "Live state.", (cam,)),
        Op("get", "/v1/cameras/{camera_id}/counts", "getCounts",
           f"Vehicles counted in time buckets, by direction and class. {rng}; default: the last day. {cache}",
           "read", r.Counts, "Counts.", (cam, bucket, since, until, *events), exports=True),
        Op("get", "/v1/cameras/{camera_id}/movements", "getMovements",
           "Turning movements: vehicles tracked from one approach zone (zone kind `approach`) into another, as an "
           f"origin-destination matrix per time bucket. {rng}; default: the last day.",
           "read", r.Movements, "Movements.", (cam, bucket, since, until, events[1]), exports=True),
        Op("get", "/v1/cameras/{camera_id}/snapshot.jpg", "getSnapshot",
           "A still of a recent frame (kept per camera every few seconds, for a short time; never a video archive). "
           "X-Captured-At, X-Frame-Seq, X-Frame-Width and X-Frame-Height describe it; 404 when the camera has sent "
           "no frame lately.",
           "read", {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}, "The JPEG still.", (cam,)),
        Op("get", "/v1/cameras/{camera_id}/detection-counts", "getDetectionCounts",
           f"Frames and detections per class (what the model saw) in time buckets. {rng}; default: the last day.",
           "read", r.DetectionCounts, "Counts.", (cam, bucket, since, until)),
        Op("get", "/v1/cameras/{camera_id}/vehicle-events", "listVehicleEvents",
           f"Vehicle line crossings, newest first. {rng}; default: the last day.", "read", r.VehicleEventPage,
           "A page of events.", (cam, since, until, *events, limit, cursor), exports=True),
        Op("get", "/v1/cameras/{camera_id}/detections", "getDetections",
           "The latest frames (or frame `frame_seq`) with their detections.", "read", r.FrameDetections, "Frames.",
           (cam, _q("frame_seq", {"type": "integer", "minimum": 0, "maximum": 2**62}, "Only this frame."),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 10}, "Frames."))),
        Op("get", "/v1/cameras/{camera_id}/stats", "listStats",
           f"Traffic statistics windows, oldest first. {rng}; default: the last day.", "read", r.StatsPage,
           "Windows.", (cam, since, until, limit, cursor), exports=True),
        Op("get", "/v1/incidents", "listIncidents",
           f"Incidents by start time, newest first. {rng}; default: the last 7 days.", "read", r.IncidentPage,
           "A page of incidents.",
           (_q("camera_id", text, "Only this camera."),
            _q("type", {"type": "string", "enum": list(INCIDENT_TYPES)}, "Only this type."),
            _q("state", {"type": "string", "enum": list(INCIDENT_STATES)}, "Only open or closed ones."),
            since, until, limit, cursor),
           errors=_LIST),
        Op("get", "/v1/incidents/{incident_id}", "getIncident", "One incident.", "read", r.Incident, "The incident.",
           (iid,)),
        Op("get", "/v1/fleet", "getFleet",
           "Fleet summary: cameras by status, vehicles today, open incidents, frames in the last hour.", "read",
           r.Fleet, "Summary.", errors=(401, 403, 429, 503)),
        Op("get", "/v1/stream", "stream",
           "Server-sent events (`event: detections|count|incident|status`, `data: JSON`) as the projector writes "
           f"them; a `: heartbeat` comment every {s.sse_heartbeat_s:g} s. At most {s.sse_max_per_key} streams per key "
           f"and {s.sse_max_per_worker} per worker (429); a stream ends (`: closing <reason>`) when its key is revoked "
           f"or expires, after {s.sse_idle_timeout_s:g} s without an event, or after {s.sse_max_lifetime_s:g} s.",
           "read",
           {"text/event-stream": {"schema": {"type": "string"}}}, "An endless event stream.",
           (_q("camera_id", {"type": "string", "maxLength": 4096}, "Comma-separated camera ids (all)."),
            _q("types", {"type": "string", "pattern": STREAM_TYPES_PATTERN}, "Comma-separated types (all).")),
           errors=_LIST),
        Op("get", "/v1/audit", "listAudit", f"The audit log, newest first. {rng}; default: the last day.", "admin",
           r.AuditPage, "A page of audit rows.", (_q("key_id", text, "Only this key."), since, until, limit, cursor),
           errors=_LIST),
    ]  # fmt: skip


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(op: Op) -> S:
    content = {"application/json": {"schema": _ref(op.ok.__name__)}} if isinstance(op.ok, type) else op.ok
    if op.exports:
        content = {**content, **_EXPORT_CONTENT}
    responses: S = {str(op.status): {"description": op.ok_text, "content": content}}
    errors = sorted({*op.errors, 405}) if 401 in op.errors else op.errors  # every /v1 operation may answer 405
    for code in errors:
        responses[str(code)] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    out: S = {
        "operationId": op.op_id,
        "summary": op.summary,
        "description": op.summary + (f" Needs scope `{op.scope}`." if op.scope else " No key needed."),
        "parameters": [*op.params, _FORMAT] if op.exports else list(op.params),
        "responses": responses,
    }
    if op.scope is None:
        out["security"] = []
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.body)}}}
    return out


class _Untitled(GenerateJsonSchema):
    """No generated "title" on properties: the property name says it."""

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def component_schemas(models: list[type[BaseModel]]) -> dict[str, S]:
    """JSON Schemas of `models` and every model they use, by class name; the camera body's PUT and PATCH forms."""
    all_models: list[type[BaseModel]] = [r.Problem, cm.CameraConfigBody, *models]
    _, top = models_json_schema(
        [(m, "validation") for m in dict.fromkeys(all_models)],
        ref_template="#/components/schemas/{model}",
        schema_generator=_Untitled,
    )
    defs: dict[str, S] = top["$defs"]
    for schema in defs.values():
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            if "default" in prop and prop["default"] is None and "anyOf" not in prop:
                del prop["default"]  # a member that may be left out (responses.Omitted), never null
    body = defs["CameraConfigBody"]
    defs["CameraConfigPut"] = {
        **body,
        "required": ["source_url"],
        "description": "The whole configuration of the camera of the URL (camera_id may be left out).",
    }
    defs["CameraConfigPatch"] = {
        **body,
        "required": [],
        "description": "Top-level fields to change (JSON merge patch; lists are replaced, not merged).",
    }
    return dict(sorted(defs.items()))


def openapi(s: ApiSettings) -> S:
    ops = operations(s)
    paths: S = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    problem: S = {"application/problem+json": {"schema": _ref("Problem")}}
    retry: S = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}
    responses = {
        name: {"description": text, "content": problem, **({"headers": retry} if code in (429, 503) else {})}
        for code, (name, text) in ERRORS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ITS Camera AI query API",
            "version": "1.0.0",
            "description": "Read models of the traffic-camera pipeline (PostgreSQL, Redis) and camera commands "
            "(Kafka). Keys: `Authorization: Bearer its_<key_id>_<secret>` or `X-API-Key`; scopes read < ops < "
            "admin. Errors are RFC 9457 application/problem+json. Lists use opaque cursors.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "its_<key_id>_<secret>"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": component_schemas([op.ok for op in ops if isinstance(op.ok, type)]),
            "responses": responses,
        },
    }
