"""JSON bodies: compact UTF-8 text, and already-encoded JSON passed through untouched."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from starlette.responses import Response

__all__ = ["dumps", "json_response", "jsonable"]


def _default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=_default, allow_nan=False).encode()


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def json_response(
    doc: Any, status: int = 200, headers: dict[str, str] | None = None, media_type: str = "application/json"
) -> Response:
    body = doc if isinstance(doc, bytes) else dumps(doc)
    return Response(body, status_code=status, headers=headers, media_type=media_type)
