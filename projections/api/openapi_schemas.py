"""JSON Schemas of the API's bodies (OpenAPI 3.1 components), the camera ones derived from the CameraConfig
Avro schema with schemas.cameras' range checks added, so the document cannot drift from what the API accepts."""

from __future__ import annotations

import copy
import json
from typing import Any

from projections.api.params import CAMERA_ID
from schemas.cameras import DECODE_MODES, LINE_DIRECTIONS, PROTOCOLS
from schemas.serde import schema_files

__all__ = ["component_schemas"]

S = dict[str, Any]


def _nullable(s: S) -> S:
    t = s.get("type")
    if isinstance(t, str):
        return {**s, "type": [t, "null"]}
    return {"anyOf": [s, {"type": "null"}]}


_STR: S = {"type": "string"}
_INT: S = {"type": "integer"}
_NUM: S = {"type": "number"}
_TIME: S = {"type": "string", "format": "date-time"}
_UNIT: S = {"type": "number", "minimum": 0, "maximum": 1}

_CONSTRAINTS: dict[str, S] = {
    "camera_id": {"pattern": CAMERA_ID},
    "source_url": {"minLength": 1, "pattern": "\\S"},
    "protocol": {"enum": list(PROTOCOLS)},
    "decode": {"enum": list(DECODE_MODES)},
    "target_fps": {"exclusiveMinimum": 0, "maximum": 60},
    "max_width": {"minimum": 0, "maximum": 16384},
    "max_height": {"minimum": 0, "maximum": 16384},
    "jpeg_quality": {"minimum": 1, "maximum": 100},
    "lines": {"maxItems": 1000},
    "zones": {"maxItems": 1000},
    "lines[].x1": _UNIT,
    "lines[].y1": _UNIT,
    "lines[].x2": _UNIT,
    "lines[].y2": _UNIT,
    "lines[].in_direction": {"enum": list(LINE_DIRECTIONS)},
    "zones[].points": {"minItems": 3, "maxItems": 1000},
    "zones[].points[].x": _UNIT,
    "zones[].points[].y": _UNIT,
    "calibration.image_points": {"minItems": 4, "maxItems": 4},
    "calibration.ground_points": {"minItems": 4, "maxItems": 4},
}


def _avro_to_json(t: Any, path: str, named: dict[str, Any]) -> S:
    if isinstance(t, list):
        others = [u for u in t if u != "null"]
        inner = _avro_to_json(others[0], path, named)
        return _nullable(inner) if "null" in t else inner
    if isinstance(t, str) and t in named:
        t = named[t]
    kind = t if isinstance(t, str) else t["type"]
    out: S
    if kind == "string":
        out = dict(_STR)
    elif kind == "int":
        out = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
    elif kind == "long":
        out = dict(_INT)
    elif kind == "double":
        out = dict(_NUM)
    elif kind == "boolean":
        out = {"type": "boolean"}
    elif kind == "enum":
        named[t["name"]] = t
        out = {"type": "string", "enum": list(t["symbols"])}
    elif kind == "array":
        out = {"type": "array", "items": _avro_to_json(t["items"], f"{path}[]", named)}
    elif kind == "record":
        named[t["name"]] = t
        props = {}
        required = []
        for f in t["fields"]:
            fp = f"{path}.{f['name']}" if path else f["name"]
            props[f["name"]] = _avro_to_json(f["type"], fp, named)
            if f.get("doc"):
                props[f["name"]]["description"] = f["doc"]
            if "default" in f:
                props[f["name"]]["default"] = f["default"]
            else:
                required.append(f["name"])
        out = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
        if t.get("doc"):
            out["description"] = t["doc"]
    else:
        raise AssertionError(f"unexpected Avro type {t!r}")
    out.update(_CONSTRAINTS.get(path, {}))
    return out


def _camera_config() -> S:
    avro = json.loads(schema_files()["CameraConfig"])
    full = _avro_to_json(avro, "", {})
    full["properties"]["updated_at"] = {**_TIME, "description": "When this configuration was written (set by the API)."}
    return full


def component_schemas() -> dict[str, S]:
    full = _camera_config()
    body = copy.deepcopy(full)
    del body["properties"]["updated_at"]
    body["required"] = [r for r in body["required"] if r != "updated_at"]
    body["description"] = "A camera's configuration; fields left out take their defaults."
    put = copy.deepcopy(body)
    put["required"] = ["source_url"]
    put["description"] = "The whole configuration of the camera of the URL (camera_id may be left out)."
    patch = copy.deepcopy(body)
    patch["required"] = []
    patch["description"] = "Top-level fields to change (JSON merge patch; lists are replaced, not merged)."
    ref = {"$ref": "#/components/schemas/CameraStatus"}
    status_props: S = {
        "camera_id": _STR,
        "status": {"type": "string", "description": "ONLINE | DEGRADED | OFFLINE | DISABLED"},
        "previous": _nullable(_STR),
        "reason": _STR,
        "error": _nullable(_STR),
        "changed_at": _TIME,
        "last_frame_at": _nullable(_TIME),
        "measured_fps": _NUM,
        "target_fps": _NUM,
        "width": _nullable(_INT),
        "height": _nullable(_INT),
        "reconnects": _INT,
        "frames_produced": _INT,
        "frames_dropped": _INT,
        "worker": _STR,
        "source": _STR,
    }
    detection: S = {
        "type": "object",
        "properties": {
            "class_id": _INT,
            "class_name": _STR,
            "confidence": _NUM,
            "x1": _NUM,
            "y1": _NUM,
            "x2": _NUM,
            "y2": _NUM,
        },
        "required": ["class_id", "class_name", "confidence", "x1", "y1", "x2", "y2"],
    }
    by_class: S = {"type": "object", "additionalProperties": _INT}
    counts_cols = {"vehicles": _INT, "IN": _INT, "OUT": _INT, "by_class": by_class}

    def page(item: str) -> S:
        return {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last page.",
                },
            },
            "required": ["items", "next_cursor"],
        }

    return {
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "properties": {
                "type": _STR,
                "title": _STR,
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": _STR,
                "instance": _STR,
                "invalid_params": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": _STR, "reason": _STR},
                        "required": ["name", "reason"],
                    },
                },
            },
            "required": ["type", "title", "status", "detail", "instance"],
        },
        "CameraConfig": full,
        "CameraConfigBody": body,
        "CameraConfigPut": put,
        "CameraConfigPatch": patch,
        "Accepted": {
            "type": "object",
            "properties": {"accepted": {"$ref": "#/components/schemas/CameraConfig"}},
            "required": ["accepted"],
        },
        "AcceptedDelete": {
            "type": "object",
            "properties": {
                "accepted": {
                    "type": "object",
                    "properties": {"camera_id": _STR, "deleted": {"const": True}},
                    "required": ["camera_id", "deleted"],
                }
            },
            "required": ["accepted"],
        },
        "CameraStatus": {"type": "object", "properties": status_props, "required": list(status_props)},
        "Camera": {
            "type": "object",
            "properties": {
                "camera_id": _STR,
                "name": _nullable(_STR),
                "source_url": _nullable({**_STR, "description": "Credentials (user:password@) are redacted."}),
                "protocol": _nullable(_STR),
                "target_fps": _nullable(_NUM),
                "enabled": _nullable({"type": "boolean"}),
                "config": _nullable({"type": "object", "description": "The CameraConfig applied (redacted)."}),
                "config_updated_at": _nullable(_TIME),
                "first_seen_at": _nullable(_TIME),
                "last_seen_at": _nullable(_TIME),
                "last_frame_seq": _nullable(_INT),
                "frames": _INT,
                "detections": _INT,
                "last_projected_at": _nullable(_TIME),
                "status": _nullable(ref),
            },
            "required": [
                "camera_id",
                "name",
                "source_url",
                "protocol",
                "target_fps",
                "enabled",
                "config",
                "config_updated_at",
                "first_seen_at",
                "last_seen_at",
                "last_frame_seq",
                "frames",
                "detections",
                "status",
            ],
        },
        "CameraPage": page("Camera"),
        "Detection": detection,
        "LiveFrame": {
            "type": "object",
            "description": "The latest frame's detections (the projector's live document).",
            "properties": {
                "camera_id": _STR,
                "frame_seq": _INT,
                "captured_at": _TIME,
                "produced_at": _TIME,
                "width": _INT,
                "height": _INT,
                "model": {"type": "object"},
                "detections": {"type": "array", "items": {"$ref": "#/components/schemas/Detection"}},
            },
            "required": ["camera_id", "frame_seq", "captured_at", "detections"],
        },
        "CountsToday": {
            "type": "object",
            "properties": {
                "day": {"type": "string", "format": "date"},
                **counts_cols,
                "by_line": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {"IN": _INT, "OUT": _INT},
                        "required": ["IN", "OUT"],
                    },
                },
            },
            "required": ["day", "vehicles", "IN", "OUT", "by_line", "by_class"],
        },
        "Live": {
            "type": "object",
            "properties": {
                "camera_id": _STR,
                "frame": _nullable({"$ref": "#/components/schemas/LiveFrame"}),
                "status": _nullable({"type": "object", "properties": status_props}),
                "counts_today": {"$ref": "#/components/schemas/CountsToday"},
            },
            "required": ["camera_id", "frame", "status", "counts_today"],
        },
        "CountsBucket": {
            "type": "object",
            "properties": {"start": _TIME, "end": _TIME, **counts_cols, "mean_speed_kmh": _nullable(_NUM)},
            "required": ["start", "end", "vehicles", "IN", "OUT", "by_class", "mean_speed_kmh"],
        },
        "Counts": {
            "type": "object",
            "properties": {
                "camera_id": _STR,
                "bucket": _STR,
                "from": _TIME,
                "to": _TIME,
                "filters": {"type": "object", "additionalProperties": _STR},
                "buckets": {
                    "type": "array",
                    "description": "Buckets with vehicles, oldest first; empty buckets are left out.",
                    "items": {"$ref": "#/components/schemas/CountsBucket"},
                },
                "totals": {
                    "type": "object",
                    "properties": counts_cols,
                    "required": ["vehicles", "IN", "OUT", "by_class"],
                },
            },
            "required": ["camera_id", "bucket", "from", "to", "filters", "buckets", "totals"],
        },
        "DetectionCounts": {
            "type": "object",
            "properties": {
                "camera_id": _STR,
                "bucket": _STR,
                "from": _TIME,
                "to": _TIME,
                "buckets": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"start": _TIME, "end": _TIME, "frames": _INT, "counts": by_class},
                        "required": ["start", "end", "frames", "counts"],
                    },
                },
                "totals": {
                    "type": "object",
                    "properties": {"frames": _INT, "counts": by_class},
                    "required": ["frames", "counts"],
                },
            },
            "required": ["camera_id", "bucket", "from", "to", "buckets", "totals"],
        },
        "VehicleEvent": {
            "type": "object",
            "properties": {
                "event_id": _STR,
                "camera_id": _STR,
                "line_id": _STR,
                "line_name": _STR,
                "track_id": _INT,
                "direction": {"type": "string", "description": "IN | OUT"},
                "motion": _STR,
                "class_name": _STR,
                "class_id": _INT,
                "confidence": _NUM,
                "frame_seq": _INT,
                "crossed_at": _TIME,
                "x": _NUM,
                "y": _NUM,
                "speed_kmh": _nullable(_NUM),
            },
            "required": ["event_id", "camera_id", "line_id", "direction", "class_name", "crossed_at"],
        },
        "VehicleEventPage": page("VehicleEvent"),
        "StatsWindow": {
            "type": "object",
            "properties": {
                "camera_id": _STR,
                "window_start": _TIME,
                "window_end": _TIME,
                "frames": _INT,
                "vehicles": _INT,
                "mean_speed_kmh": _nullable(_NUM),
                "speed_samples": _INT,
                "mean_occupancy": _NUM,
                "late_frames": _INT,
                "closed_by": _STR,
                "counts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"line_id": _STR, "class_name": _STR, "direction": _STR, "count": _INT},
                        "required": ["line_id", "class_name", "direction", "count"],
                    },
                },
            },
            "required": ["camera_id", "window_start", "window_end", "frames", "vehicles", "counts"],
        },
        "StatsPage": {
            "type": "object",
            "properties": {
                "camera_id": _STR,
                "from": _TIME,
                "to": _TIME,
                **page("StatsWindow")["properties"],
            },
            "required": ["camera_id", "from", "to", "items", "next_cursor"],
        },
        "Incident": {
            "type": "object",
            "properties": {
                "incident_id": _STR,
                "camera_id": _STR,
                "type": _STR,
                "state": {"type": "string", "description": "OPEN | CLOSED"},
                "started_at": _TIME,
                "ended_at": _nullable(_TIME),
                "track_id": _nullable(_INT),
                "class_name": _nullable(_STR),
                "line_id": _nullable(_STR),
                "zone_id": _nullable(_STR),
                "value": _nullable(_NUM),
                "detail": _STR,
            },
            "required": ["incident_id", "camera_id", "type", "state", "started_at", "ended_at", "detail"],
        },
        "IncidentPage": page("Incident"),
        "Fleet": {
            "type": "object",
            "properties": {
                "cameras": _INT,
                "by_status": {"type": "object", "additionalProperties": _INT},
                "vehicles_today": _INT,
                "open_incidents": _INT,
                "frames_last_hour": _INT,
                "at": _TIME,
            },
            "required": ["cameras", "by_status", "vehicles_today", "open_incidents", "frames_last_hour"],
        },
        "AuditEntry": {
            "type": "object",
            "properties": {
                "id": _INT,
                "at": _TIME,
                "key_id": _nullable(_STR),
                "method": _STR,
                "path": _STR,
                "route": _nullable(_STR),
                "query": _STR,
                "status": _INT,
                "duration_ms": _NUM,
                "client": _nullable(_STR),
                "request_id": _STR,
            },
            "required": ["id", "at", "key_id", "method", "path", "status", "duration_ms", "request_id"],
        },
        "AuditPage": page("AuditEntry"),
        "FrameDetections": {
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "camera_id": _STR,
                            "frame_seq": _INT,
                            "captured_at": _TIME,
                            "detections": {"type": "array", "items": {"$ref": "#/components/schemas/Detection"}},
                        },
                        "required": ["camera_id", "frame_seq", "captured_at", "detections"],
                    },
                }
            },
            "required": ["items"],
        },
    }
