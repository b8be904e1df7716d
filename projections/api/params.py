"""Query and path parameters: parsing, caps and opaque cursors. Every bad value is a 400 naming the parameter."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request

from projections.api.problems import Problem
from schemas.camera_model import CAMERA_ID_PATTERN, is_camera_id

__all__ = [
    "TEXT_MAX",
    "camera_id",
    "decode_cursor",
    "encode_cursor",
    "parse_csv",
    "parse_enum",
    "parse_int",
    "parse_text",
    "parse_time",
    "time_range",
]

TEXT_MAX = 128


def _bad(name: str, reason: str, detail: str) -> Problem:
    return Problem(400, detail, invalid_params=[{"name": name, "reason": reason}])


def camera_id(request: Request) -> str:
    """The {camera_id} path segment; one that breaks the id grammar (schemas.camera_model) names no camera (404)."""
    cam: str = request.path_params["camera_id"]
    if not is_camera_id(cam):
        raise Problem(404, f"No camera {cam!r}: camera ids match {CAMERA_ID_PATTERN}. List cameras at /v1/cameras.")
    return cam


def parse_time(request: Request, name: str, default: datetime | None) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        raise _bad(
            name,
            "not an ISO 8601 time",
            f"Query parameter '{name}' must be an ISO 8601 time such as 2026-01-31T08:00:00Z; got {raw!r}.",
        ) from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def time_range(
    request: Request, max_days: int, default_span: timedelta, default_to: datetime | None = None
) -> tuple[datetime, datetime]:
    """`from`/`to` (from <= t < to): defaults to the last `default_span`, at most `max_days` long."""
    try:
        end = parse_time(request, "to", default_to or _next_minute()) or _next_minute()
        start = parse_time(request, "from", None) or end - default_span
        span = end - start
    except OverflowError:
        raise _bad("from", "out of range", "'from'/'to' are too far from the present; ask for a real range.") from None
    if start >= end:
        raise _bad("from", "not before 'to'", f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()}).")
    if span > timedelta(days=max_days):
        raise _bad("from", "range too long", f"The from..to range is longer than {max_days} days; ask for less.")
    return start, end


def _next_minute() -> datetime:
    now = datetime.now(UTC)
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def parse_int(request: Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        val = int(raw) if len(raw) <= 20 else lo - 1
    except ValueError:
        val = lo - 1
    if not lo <= val <= hi:
        raise _bad(
            name, f"integer {lo}..{hi}", f"Query parameter '{name}' must be an integer from {lo} to {hi}; got {raw!r}."
        )
    return val


def parse_text(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > TEXT_MAX or "\x00" in raw:
        raise _bad(
            name,
            f"text of 1..{TEXT_MAX} characters",
            f"Query parameter '{name}' must be 1-{TEXT_MAX} characters without NUL.",
        )
    return raw


def parse_enum(request: Request, name: str, choices: Sequence[str], default: str | None) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise _bad(name, "unknown value", f"Query parameter '{name}' must be one of {list(choices)}; got {raw!r}.")
    return raw


def parse_csv(request: Request, name: str, choices: Sequence[str] | None = None) -> list[str]:
    """A comma-separated list (`types=count,incident`); empty items are ignored."""
    raw = request.query_params.get(name) or ""
    items = [i for i in raw.split(",") if i]
    for i in items:
        if len(i) > TEXT_MAX or "\x00" in i or (choices is not None and i not in choices):
            allowed = f"one of {list(choices)}" if choices is not None else f"1-{TEXT_MAX} characters"
            raise _bad(name, "unknown value", f"Each item of query parameter '{name}' must be {allowed}; got {i!r}.")
    return items


def encode_cursor(key: Sequence[Any]) -> str:
    """An opaque cursor: base64url (unpadded) of the JSON keyset of the last item returned."""
    raw = json.dumps(list(key), separators=(",", ":"), default=lambda o: o.isoformat()).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(request: Request, types: Sequence[type]) -> list[Any] | None:
    """The keyset a cursor encodes, checked against `types` (datetime items come back as datetimes)."""
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        if len(raw) > 1024:
            raise ValueError("too long")
        key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(key, list) or len(key) != len(types):
            raise ValueError("wrong shape")
        out: list[Any] = []
        for v, t in zip(key, types, strict=True):
            if t is datetime:
                if not isinstance(v, str):
                    raise ValueError("not a time")
                v = datetime.fromisoformat(v)
                if v.tzinfo is None:
                    raise ValueError("naive time")
            elif t is int:
                if not isinstance(v, int) or isinstance(v, bool) or not -(2**63) <= v < 2**63:
                    raise ValueError("not an integer")
            elif not isinstance(v, t) or (isinstance(v, str) and "\x00" in v):
                raise ValueError("wrong type")
            out.append(v)
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise _bad(
            "cursor",
            "not a cursor of this list",
            "Query parameter 'cursor' is not a cursor this list returned; pass next_cursor unchanged, or omit it.",
        ) from None
    return out
