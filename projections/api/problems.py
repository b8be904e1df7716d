"""RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import redis
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["UNAVAILABLE", "Problem", "problem_handler", "problem_response", "unavailable_handler"]

log = logging.getLogger(__name__)

_TITLES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(HTTPException):
    """Raise to answer with problem+json; `extra` members are added to the document."""

    def __init__(self, status: int, detail: str, type_: str = "about:blank", **extra: Any) -> None:
        super().__init__(status_code=status, detail=detail)
        self.type_ = type_
        self.extra = extra


def problem_response(request: Request, status: int, detail: str, type_: str = "about:blank", **extra: Any) -> Response:
    body = {
        "type": type_,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


async def problem_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Problem):
        return problem_response(request, exc.status_code, exc.detail, exc.type_, **exc.extra)
    if isinstance(exc, HTTPException):
        return problem_response(request, exc.status_code, exc.detail)
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(request, 500, "Unexpected error; see the API log.")


async def unavailable_handler(request: Request, exc: Exception) -> Response:
    """A dependency outage is the client's 503 to retry, not a 500."""
    what = "Redis" if isinstance(exc, redis.RedisError) else "PostgreSQL"
    log.warning("dependency unavailable", extra={"dependency": what, "error": str(exc)})
    return problem_response(
        request, 503, f"{what} is unavailable; retry shortly. /ready tells which dependency is down."
    )


#: exceptions that mean a dependency is down, answered by `unavailable_handler`
UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
)
