"""RFC 9457 problem+json responses."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["Problem", "problem_handler", "problem_response"]

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
    return problem_response(request, 500, "Unexpected error; see the API log.")
