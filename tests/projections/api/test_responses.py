"""The API's answer models that mirror an event agree with its Avro schema, so a field added to the contract cannot
be left out of the API's document (or the other way round)."""

from __future__ import annotations

import json
from typing import Any

from projections.api.responses import CameraStatus
from schemas.events import CameraStatusChanged
from schemas.serde import schema_files


def _avsc_fields(name: str) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = json.loads(schema_files()[name])["fields"]
    return fields


def test_camera_status_answer_has_the_event_fields_in_order() -> None:
    avro = [f["name"] for f in _avsc_fields("CameraStatusChanged")]
    assert list(CameraStatus.model_fields) == avro, "projections/api/responses.py CameraStatus != the .avsc"
    assert list(CameraStatusChanged.__annotations__) == avro, "schemas/events.py CameraStatusChanged != the .avsc"


def test_camera_status_answer_says_which_fields_may_be_null() -> None:
    for f in _avsc_fields("CameraStatusChanged"):
        nullable = isinstance(f["type"], list) and "null" in f["type"]
        required = CameraStatus.model_fields[f["name"]].is_required()
        annotation = str(CameraStatus.model_fields[f["name"]].annotation)
        assert required, f"{f['name']}: every status field is always present in the answer"
        assert ("None" in annotation) == nullable, f"{f['name']}: Avro nullable={nullable}, API type {annotation}"


def test_status_symbols_are_the_avro_enum() -> None:
    status = next(f for f in _avsc_fields("CameraStatusChanged") if f["name"] == "status")
    described = CameraStatus.model_fields["status"].description or ""
    assert described.split(" | ") == status["type"]["symbols"]
