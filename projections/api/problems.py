"""RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import psycopg
import redis
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from projections.api.encode import dumps
from schemas.redaction import redact

__all__ = [
    "PROBLEM",
    "UNAVAILABLE",
    "Problem",
    "problem",
    "problem_handler",
    "problem_response",
    "query_cancelled_handler",
    "unavailable_detail",
    "unavailable_handler",
]

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(HTTPException):
    """Raise to answer with problem+json; `extra` members are added to the document."""

    def __init__(
        self,
        status: int,
        detail: str,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.type_ = type_
        self.extra = extra


def problem(
    path: str,
    status: int,
    detail: str,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": type_,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": redact(detail),  # no credential leaves in an answer (a source URL, a DSN in a driver's text)
        "instance": path,
        **extra,
    }
    return Response(dumps(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM)


def problem_response(request: Request, status: int, detail: str, type_: str = "about:blank", **extra: Any) -> Response:
    return problem(request.url.path, status, detail, type_, **extra)


async def problem_handler(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Problem):
        return problem(request.url.path, exc.status_code, exc.detail, exc.type_, exc.headers, **exc.extra)
    if isinstance(exc, HTTPException):
        return problem(request.url.path, exc.status_code, exc.detail, headers=exc.headers)
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem(request.url.path, 500, "Unexpected error; see the API log.")


def unavailable_detail(exc: BaseException) -> str:
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return QUERY_CANCELLED
    what = "Redis" if isinstance(exc, redis.RedisError) else "PostgreSQL"
    return f"{what} is unavailable; retry shortly. /ready tells which dependency is down."


QUERY_CANCELLED = (
    "The query ran past the API's time limit (ITS_API_STATEMENT_TIMEOUT_MS) and was cancelled; ask for a shorter "
    "range or a coarser bucket, or retry shortly."
)


async def query_cancelled_handler(request: Request, exc: Exception) -> Response:
    """statement_timeout (or a cancel) ended a query: the client's 503 to retry, never its SQL or the error text."""
    log.warning("query cancelled", extra={"path": request.url.path, "error": type(exc).__name__})
    return problem(request.url.path, 503, QUERY_CANCELLED, headers={"Retry-After": "5"})


async def unavailable_handler(request: Request, exc: Exception) -> Response:
    """A dependency outage is the client's 503 to retry, not a 500."""
    log.warning("dependency unavailable", extra={"error": str(exc)})
    return problem(request.url.path, 503, unavailable_detail(exc), headers={"Retry-After": "5"})


#: exceptions that mean a dependency is down, answered by `unavailable_handler`
UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.OutOfMemoryError,  # a full noeviction state instance refuses writes: retry, not a 500
)
