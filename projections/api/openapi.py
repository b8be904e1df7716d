"""The OpenAPI 3.1.0 document of the API (/openapi.json) and an offline docs page rendered from it (/docs)."""

from __future__ import annotations

import html
from typing import Any

from projections.api.openapi_schemas import component_schemas
from projections.api.params import CAMERA_ID, TEXT_MAX
from projections.api.settings import ApiSettings
from projections.queries import BUCKETS

__all__ = ["STREAM_TYPES_PATTERN", "docs_html", "openapi"]

S = dict[str, Any]
STREAM_TYPES_PATTERN = "^(detections|count|incident|status)(,(detections|count|incident|status))*$"
_ERRORS = {
    "400": ("BadRequest", "A query parameter or the cursor is malformed; `invalid_params` names it."),
    "401": ("Unauthorized", "No API key, or an unknown, revoked or malformed one."),
    "403": ("Forbidden", "The key lacks the scope this operation needs."),
    "404": ("NotFound", "No such camera, incident or route."),
    "405": ("MethodNotAllowed", "The path (a path parameter may contain an encoded '/') names another operation."),
    "429": ("TooManyRequests", "The key is over its rate; retry after Retry-After seconds."),
    "503": ("Unavailable", "PostgreSQL, Redis or Kafka is unavailable; retry shortly."),
}
_COMMAND_ERRORS = {
    "409": ("Conflict", "The camera exists already (POST); use PUT or PATCH."),
    "413": ("TooLarge", "The body is larger than 256 KiB."),
    "415": ("UnsupportedMediaType", "The body is not application/json."),
    "422": ("Unprocessable", "The body is not a valid CameraConfig; `invalid_params` names the field."),
}


def _ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> S:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _q(name: str, schema: S, description: str, required: bool = False) -> S:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _op(
    summary: str,
    scope: str | None,
    ok: S,
    params: list[S] | None = None,
    body: str | None = None,
    ok_status: str = "200",
    errors: tuple[str, ...] = ("400", "401", "403", "404", "429", "503"),
    op_id: str = "",
) -> S:
    responses: S = {ok_status: ok}
    if "401" in errors:  # every /v1 operation
        errors = tuple(sorted({*errors, "405"}))
    for code in errors:
        responses[code] = {"$ref": f"#/components/responses/{(_ERRORS | _COMMAND_ERRORS)[code][0]}"}
    op: S = {
        "operationId": op_id,
        "summary": summary,
        "description": summary + (f" Needs scope `{scope}`." if scope else " No key needed."),
        "parameters": params or [],
        "responses": responses,
    }
    if scope is None:
        op["security"] = []
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return op


def openapi(s: ApiSettings) -> S:
    page = s.max_page
    cam: S = {
        "name": "camera_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": CAMERA_ID},
        "description": "Camera id.",
    }
    limit = _q("limit", {"type": "integer", "minimum": 1, "maximum": page, "default": 100}, "Page size.")
    cursor = _q("cursor", {"type": "string", "maxLength": 1024}, "`next_cursor` of the previous page.")
    time_from = _q("from", {"type": "string", "format": "date-time"}, "Start (inclusive), ISO 8601.")
    time_to = _q("to", {"type": "string", "format": "date-time"}, "End (exclusive), ISO 8601; default: now.")
    text: S = {"type": "string", "minLength": 1, "maxLength": TEXT_MAX}
    event_filters = [
        _q("line_id", text, "Only this counting line."),
        _q("class", text, "Only this vehicle class (car, truck, bus, motorcycle, bicycle, ...)."),
        _q("direction", {"type": "string", "enum": ["IN", "OUT"]}, "Only this direction."),
    ]
    rng = f"Range at most {s.max_range_days} days (ITS_API_MAX_RANGE_DAYS)"
    read = "read"
    paths: S = {
        "/health": {
            "get": _op(
                "Liveness.",
                None,
                {"description": "Alive.", "content": {"application/json": {"schema": {"type": "object"}}}},
                errors=(),
                op_id="health",
            )
        },
        "/ready": {
            "get": _op(
                "Readiness: PostgreSQL, Redis and Kafka answer.",
                None,
                {"description": "Ready.", "content": {"application/json": {"schema": {"type": "object"}}}},
                errors=("503",),
                op_id="ready",
            )
        },
        "/openapi.json": {
            "get": _op(
                "This document.",
                None,
                {"description": "OpenAPI 3.1.0.", "content": {"application/json": {"schema": {"type": "object"}}}},
                errors=(),
                op_id="openapi",
            )
        },
        "/docs": {
            "get": _op(
                "Human-readable reference rendered from this document.",
                None,
                {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}},
                errors=(),
                op_id="docs",
            )
        },
        "/ui": {
            "get": _op(
                "The analyst web page (it asks for an API key and calls this API).",
                None,
                {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}},
                errors=(),
                op_id="ui",
            )
        },
        "/v1/cameras": {
            "get": _op(
                "Cameras by id (deleted ones left out).",
                read,
                _json("CameraPage", "A page of cameras."),
                [limit, cursor],
                errors=("400", "401", "403", "429", "503"),
                op_id="listCameras",
            ),
            "post": _op(
                "Add a camera: appends its CameraConfig to its.cameras.v1; the projector applies it.",
                "ops",
                _json("Accepted", "Appended to Kafka."),
                body="CameraConfigBody",
                ok_status="202",
                errors=("400", "401", "403", "409", "413", "415", "422", "429", "503"),
                op_id="createCamera",
            ),
        },
        "/v1/cameras/{camera_id}": {
            "get": _op("One camera.", read, _json("Camera", "The camera."), [cam], op_id="getCamera"),
            "put": _op(
                "Replace a camera's configuration (creates it if new).",
                "ops",
                _json("Accepted", "Appended to Kafka."),
                [cam],
                body="CameraConfigPut",
                ok_status="202",
                errors=("400", "401", "403", "404", "413", "415", "422", "429", "503"),
                op_id="putCamera",
            ),
            "patch": _op(
                "Change some fields of a camera's stored configuration.",
                "ops",
                _json("Accepted", "Appended to Kafka."),
                [cam],
                body="CameraConfigPatch",
                ok_status="202",
                errors=("400", "401", "403", "404", "413", "415", "422", "429", "503"),
                op_id="patchCamera",
            ),
            "delete": _op(
                "Remove a camera (a tombstone on its.cameras.v1).",
                "ops",
                _json("AcceptedDelete", "Appended to Kafka."),
                [cam],
                ok_status="202",
                op_id="deleteCamera",
            ),
        },
        "/v1/cameras/{camera_id}/live": {
            "get": _op(
                "Latest frame, status and today's counters (from Redis).",
                read,
                _json("Live", "Live state."),
                [cam],
                op_id="getLive",
            )
        },
        "/v1/cameras/{camera_id}/counts": {
            "get": _op(
                f"Vehicles counted in time buckets, by direction and class. {rng}; default: the last day. "
                f"Answers are cached for {s.query_cache_s:g} s ({s.query_cache_closed_s:g} s once `to` is over 2 "
                "minutes past).",
                read,
                _json("Counts", "Counts."),
                [
                    cam,
                    _q("bucket", {"type": "string", "enum": list(BUCKETS), "default": "1h"}, "Bucket width."),
                    time_from,
                    time_to,
                    *event_filters,
                ],
                op_id="getCounts",
            )
        },
        "/v1/cameras/{camera_id}/detection-counts": {
            "get": _op(
                f"Frames and detections per class (what the model saw) in time buckets. {rng}; default: the last day.",
                read,
                _json("DetectionCounts", "Counts."),
                [
                    cam,
                    _q("bucket", {"type": "string", "enum": list(BUCKETS), "default": "1h"}, "Bucket width."),
                    time_from,
                    time_to,
                ],
                op_id="getDetectionCounts",
            )
        },
        "/v1/cameras/{camera_id}/vehicle-events": {
            "get": _op(
                f"Vehicle line crossings, newest first. {rng}; default: the last day.",
                read,
                _json("VehicleEventPage", "A page of events."),
                [cam, time_from, time_to, *event_filters, limit, cursor],
                op_id="listVehicleEvents",
            )
        },
        "/v1/cameras/{camera_id}/detections": {
            "get": _op(
                "The latest frames (or frame `frame_seq`) with their detections.",
                read,
                _json("FrameDetections", "Frames."),
                [
                    cam,
                    _q("frame_seq", {"type": "integer", "minimum": 0, "maximum": 2**62}, "Only this frame."),
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 10}, "Frames."),
                ],
                op_id="getDetections",
            )
        },
        "/v1/cameras/{camera_id}/stats": {
            "get": _op(
                f"Traffic statistics windows, oldest first. {rng}; default: the last day.",
                read,
                _json("StatsPage", "Windows."),
                [cam, time_from, time_to, limit, cursor],
                op_id="listStats",
            )
        },
        "/v1/incidents": {
            "get": _op(
                f"Incidents by start time, newest first. {rng}; default: the last 7 days.",
                read,
                _json("IncidentPage", "A page of incidents."),
                [
                    _q("camera_id", text, "Only this camera."),
                    _q(
                        "type",
                        {"type": "string", "enum": ["STOPPED_VEHICLE", "WRONG_WAY", "CONGESTION", "CAMERA_OFFLINE"]},
                        "Only this type.",
                    ),
                    _q("state", {"type": "string", "enum": ["open", "closed"]}, "Only open or closed ones."),
                    time_from,
                    time_to,
                    limit,
                    cursor,
                ],
                errors=("400", "401", "403", "429", "503"),
                op_id="listIncidents",
            )
        },
        "/v1/incidents/{incident_id}": {
            "get": _op(
                "One incident.",
                read,
                _json("Incident", "The incident."),
                [
                    {
                        "name": "incident_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 256},
                    }
                ],
                op_id="getIncident",
            )
        },
        "/v1/fleet": {
            "get": _op(
                "Fleet summary: cameras by status, vehicles today, open incidents, frames in the last hour.",
                read,
                _json("Fleet", "Summary."),
                errors=("401", "403", "429", "503"),
                op_id="getFleet",
            )
        },
        "/v1/stream": {
            "get": _op(
                "Server-sent events (`event: detections|count|incident|status`, `data: JSON`) as the projector "
                f"writes them; a `: heartbeat` comment every {s.sse_heartbeat_s:g} s.",
                read,
                {"description": "An endless event stream.", "content": {"text/event-stream": {"schema": _STR}}},
                [
                    _q("camera_id", {"type": "string", "maxLength": 4096}, "Comma-separated camera ids (all)."),
                    _q("types", {"type": "string", "pattern": STREAM_TYPES_PATTERN}, "Comma-separated types (all)."),
                ],
                errors=("400", "401", "403", "429", "503"),
                op_id="stream",
            )
        },
        "/v1/audit": {
            "get": _op(
                f"The audit log, newest first. {rng}; default: the last day.",
                "admin",
                _json("AuditPage", "A page of audit rows."),
                [_q("key_id", text, "Only this key."), time_from, time_to, limit, cursor],
                errors=("400", "401", "403", "429", "503"),
                op_id="listAudit",
            )
        },
    }
    responses = {
        name: {
            "description": text_,
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
            **(
                {"headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}}
                if code in ("429", "503")
                else {}
            ),
        }
        for code, (name, text_) in (_ERRORS | _COMMAND_ERRORS).items()
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
            "schemas": component_schemas(),
            "responses": responses,
        },
    }


_STR: S = {"type": "string"}


def _schema_text(schema: Any) -> str:
    if not isinstance(schema, dict):
        return html.escape(str(schema))
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{name}">{name}</a>'
    keys = ("type", "enum", "format", "pattern", "minimum", "maximum", "minLength", "maxLength", "default")
    return html.escape(", ".join(f"{k}={schema[k]}" for k in keys if k in schema))


def docs_html(doc: S) -> str:
    """One static page: every operation with its parameters, body and responses, then every schema."""
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>",
        html.escape(doc["info"]["title"]),
        "</title><style>body{font:14px/1.45 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "h2{border-top:1px solid #ccc;padding-top:.6em}code,pre{background:#f4f4f4;padding:0 .2em}"
        "table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}"
        ".m{font-weight:bold;text-transform:uppercase}</style></head><body>",
        f"<h1>{html.escape(doc['info']['title'])} <small>{html.escape(doc['info']['version'])}</small></h1>",
        f"<p>{html.escape(doc['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI ",
        html.escape(doc["openapi"]),
        ").</p>",
    ]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            out.append(f"<h2><span class='m'>{method}</span> <code>{html.escape(path)}</code></h2>")
            out.append(f"<p>{html.escape(op['description'])}</p>")
            if op["parameters"]:
                out.append("<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th></th></tr>")
                for p in op["parameters"]:
                    out.append(
                        f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{p['in']}</td>"
                        f"<td>{'yes' if p.get('required') else 'no'}</td><td>{_schema_text(p['schema'])}</td>"
                        f"<td>{html.escape(p.get('description', ''))}</td></tr>"
                    )
                out.append("</table>")
            if "requestBody" in op:
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                out.append(f"<p>Body (application/json): {_schema_text(schema)}</p>")
            out.append("<table><tr><th>status</th><th>response</th></tr>")
            for code, r in op["responses"].items():
                if "$ref" in r:
                    r = doc["components"]["responses"][r["$ref"].rsplit("/", 1)[-1]]
                media = next(iter(r.get("content", {"": {}}).items()))
                out.append(
                    f"<tr><td>{code}</td><td>{html.escape(r['description'])} <code>{html.escape(media[0])}</code> "
                    f"{_schema_text(media[1].get('schema', {}))}</td></tr>"
                )
            out.append("</table>")
    out.append("<h1>Schemas</h1>")
    for name, schema in doc["components"]["schemas"].items():
        out.append(f"<h2 id='schema-{name}'>{name}</h2>")
        if schema.get("description"):
            out.append(f"<p>{html.escape(schema['description'])}</p>")
        props = schema.get("properties", {})
        if props:
            req = set(schema.get("required", []))
            out.append("<table><tr><th>field</th><th>required</th><th>schema</th><th></th></tr>")
            for k, v in props.items():
                out.append(
                    f"<tr><td><code>{html.escape(k)}</code></td><td>{'yes' if k in req else 'no'}</td>"
                    f"<td>{_schema_text(v)}</td><td>{html.escape(str(v.get('description', '')))}</td></tr>"
                )
            out.append("</table>")
    out.append("</body></html>")
    return "".join(out)
