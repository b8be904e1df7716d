"""The generated OpenAPI document: it keeps every operation, parameter, security scheme and response code of the
committed list (openapi_operations.json, taken from the hand-written document it replaced), every reference
resolves, and the camera components are the typed models'. No stack needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from projections.api.docs import docs_html
from projections.api.openapi import openapi
from projections.api.settings import ApiSettings
from schemas import camera_model as cm

OPERATIONS = Path(__file__).with_name("openapi_operations.json")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi(ApiSettings())


def operations_of(doc: dict[str, Any]) -> dict[str, Any]:
    """What clients rely on: each operation's id, parameters (`in:name`, `*` when required), body, response codes
    and whether it needs a key; the security schemes."""
    ops = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = sorted(f"{p['in']}:{p['name']}{'*' if p.get('required') else ''}" for p in op["parameters"])
            ops.append(
                {
                    "operation": f"{method.upper()} {path}",
                    "operationId": op["operationId"],
                    "parameters": params,
                    "body": "requestBody" in op,
                    "responses": sorted(op["responses"]),
                    "security": "public" if op.get("security") == [] else "key",
                }
            )
    return {
        "securitySchemes": sorted(doc["components"]["securitySchemes"]),
        "security": doc["security"],
        "operations": sorted(ops, key=lambda o: o["operation"]),
    }


def test_every_committed_operation_is_kept(doc: dict[str, Any]) -> None:
    want = json.loads(OPERATIONS.read_text())
    got = operations_of(doc)
    assert got["securitySchemes"] == want["securitySchemes"] and got["security"] == want["security"]
    by_name = {o["operation"]: o for o in got["operations"]}
    for op in want["operations"]:
        assert by_name.get(op["operation"]) == op, op["operation"]
    assert len(got["operations"]) == len(want["operations"]), "a new operation: add it to openapi_operations.json"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    for ref in set(_refs(doc)):
        _, section, name = ref.removeprefix("#/").split("/")
        assert name in doc["components"][section], ref


def test_the_camera_components_are_the_typed_models(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    body = schemas["CameraConfigBody"]
    assert list(body["properties"]) == list(cm.CameraConfigBody.model_fields)
    assert body["properties"]["protocol"]["enum"] == list(cm.PROTOCOLS)
    assert body["properties"]["camera_id"]["pattern"] == cm.CAMERA_ID_PATTERN
    assert body["properties"]["target_fps"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 60,
        "default": 10.0,
        "description": body["properties"]["target_fps"]["description"],
    }
    assert schemas["CameraConfigPut"]["required"] == ["source_url"] and schemas["CameraConfigPatch"]["required"] == []
    assert "updated_at" in schemas["CameraConfig"]["required"] and "updated_at" not in body["properties"]
    line = schemas["CountingLine"]["properties"]
    assert line["in_direction"]["enum"] == list(cm.LINE_DIRECTIONS) and (
        line["x1"]["minimum"],
        line["x1"]["maximum"],
    ) == (0, 1)
    cam = doc["paths"]["/v1/cameras/{camera_id}"]["get"]["parameters"][0]
    assert cam["schema"]["pattern"] == cm.CAMERA_ID_PATTERN
    assert not any("title" in s for s in schemas.values())


def test_docs_render_every_operation_and_schema(doc: dict[str, Any]) -> None:
    page = docs_html(doc)
    assert "/v1/cameras/{camera_id}/vehicle-events" in page and "<script" not in page
    for name in doc["components"]["schemas"]:
        assert f"id='schema-{name}'" in page
