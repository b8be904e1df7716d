"""Privacy parts of the camera commands: the audit rows of privacy-relevant changes, and the purge flag.

Every request already has its audit row (gate.py: key, method, path, query, status), so `DELETE
/v1/cameras/{id}?purge=true` is audited by its query. A camera command that turns `blur_persons` off (a camera
created with it off, or changed from on to off) adds one more row naming the key and the change:
route `privacy:blur_persons=false`, query `camera_id=...&blur_persons=false`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from projections import queries
from projections.api.deps import deps
from projections.api.params import parse_enum
from projections.purge import PURGE_HEADER

__all__ = ["BLUR_OFF_ROUTE", "audit_blur_off", "blur_turned_off", "purge_headers"]

BLUR_OFF_ROUTE = "privacy:blur_persons=false"


def purge_headers(request: Request) -> list[tuple[str, str | bytes | None]] | None:
    """The tombstone's Kafka headers: `its-purge: 1` for `?purge=true` (a 400 for anything but true/false)."""
    purge = parse_enum(request, "purge", ["true", "false"], "false")
    return [(PURGE_HEADER, b"1")] if purge == "true" else None


async def blur_turned_off(request: Request, cfg: dict[str, Any]) -> bool:
    """Whether the command turns blurring off: blur_persons false now, and not already false in the read model."""
    if cfg.get("blur_persons", True):
        return False
    async with deps(request).pool.connection() as conn:
        current = await queries.camera_config(conn, cfg["camera_id"])
    return current is None or current.get("blur_persons", True) is not False


def audit_blur_off(request: Request, cam: str) -> None:
    principal = getattr(request.state, "principal", None)
    client = request.client
    deps(request).audit.record(
        (
            datetime.now(UTC),
            getattr(principal, "key_id", None),
            request.method,
            request.url.path,
            BLUR_OFF_ROUTE,
            f"camera_id={cam}&blur_persons=false",
            202,
            0.0,
            client.host if client else None,
            uuid.uuid4().hex,
        )
    )
