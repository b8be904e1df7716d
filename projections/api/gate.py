"""The gate every request passes (pure ASGI, no per-request task): authentication, scope, rate limit, metrics,
an X-Request-Id header, and the request's audit row whatever its outcome (401/403/429/404 included)."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from projections.api import metrics as m
from projections.api.deps import Deps
from projections.api.problems import UNAVAILABLE, Problem, problem, unavailable_detail

__all__ = ["PUBLIC_PATHS", "Gate", "fused", "rate_limited", "required_scope", "take_token", "token_of"]

log = logging.getLogger(__name__)

#: served without a key
PUBLIC_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/docs", "/ui", "/ui/"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="itscam"'}


def required_scope(method: str, path: str) -> str:
    if path.startswith("/v1/audit"):
        return "admin"
    if method not in ("GET", "HEAD", "OPTIONS"):
        return "ops"
    return "read"


def token_of(scope: Scope) -> str | None:
    """The key of `Authorization: Bearer` (preferred) or `X-API-Key`; "" for another Authorization scheme."""
    api_key = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            v = value.decode("latin-1")
            return v[7:].strip() if v[:7].lower() == "bearer " else ""
        if name == b"x-api-key" and api_key is None:
            api_key = value.decode("latin-1").strip()
    return api_key


def fused(method: str, path: str) -> bool:
    """Routes that take their rate-limit token in the same Redis script as their own read (see ratelimit)."""
    return (
        method == "GET"
        and path.startswith("/v1/cameras/")
        and path.count("/") == 4
        and path.endswith(("/live", "/counts"))
    )


def rate_limited(key_id: str, rate: int, retry_after: int) -> Problem:
    return Problem(
        429,
        f"Key {key_id} is over its {rate} requests per minute; retry in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )


def _clean(s: str) -> str:
    return s.replace("\x00", "\\x00")


class Gate:
    def __init__(self, app: ASGIApp, deps: Deps, templates: dict[Any, str]) -> None:
        self.app = app
        self.deps = deps
        self.templates = templates  # endpoint -> route path template, for metrics and the audit row
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # labelled metric children, looked up once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        request_id = uuid.uuid4().hex
        status = 500
        rid_header = (b"x-request-id", request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        key_id: str | None = None
        path: str = scope["path"]
        try:
            if path in PUBLIC_PATHS or path.startswith("/ui/"):
                await self.app(scope, receive, send_wrapper)
                return
            refusal, key_id = await self._admit(scope)
            if refusal is not None:
                await refusal(scope, receive, send_wrapper)
                return
            await self.app(scope, receive, send_wrapper)
            principal = scope["state"].pop("rate_deferred", None)
            if principal is not None:  # a fused route answered before it took its token (e.g. a 400): take it now
                with contextlib.suppress(*UNAVAILABLE):  # the answer is sent; Redis being down changes nothing now
                    await self.deps.limiter.hit(principal.key_id, principal.rate_per_minute)
        finally:
            elapsed = time.perf_counter() - t0
            route = self.templates.get(scope.get("endpoint"))
            method: str = scope["method"]
            series = self._series.get((method, route or "", status))
            if series is None:
                label = route or "unmatched"
                series = (m.REQUESTS.labels(method, label, str(status)), m.LATENCY.labels(label))
                self._series[(method, route or "", status)] = series
            series[0].inc()
            series[1].observe(elapsed)
            client = scope.get("client")
            self.deps.audit.record(
                (
                    datetime.now(UTC),
                    key_id,
                    method,
                    _clean(path),
                    route,
                    scope["query_string"].decode("latin-1").replace("\x00", ""),
                    status,
                    elapsed * 1000.0,
                    client[0] if client else None,
                    request_id,
                )
            )

    async def _admit(self, scope: Scope) -> tuple[Any, str | None]:
        """(a problem response to send instead, or None; the key id once the key is known)."""
        path: str = scope["path"]
        token = token_of(scope)
        if not token:
            return problem(
                path,
                401,
                "An API key is needed: send 'Authorization: Bearer its_<key_id>_<secret>' or 'X-API-Key'. "
                "An operator creates one with `itscam keys create`.",
                headers=_CHALLENGE,
            ), None
        try:
            principal = await self.deps.keys.authenticate(token)
        except UNAVAILABLE as e:
            log.warning("key lookup failed", extra={"error": str(e)})
            return problem(path, 503, unavailable_detail(e), headers={"Retry-After": "5"}), None
        if principal is None:
            return problem(
                path,
                401,
                "The API key is unknown, revoked, expired or malformed; check it with `itscam keys list`.",
                headers={"WWW-Authenticate": 'Bearer realm="itscam", error="invalid_token"'},
            ), None
        needed = required_scope(scope["method"], path)
        if not principal.allows(needed):
            return problem(
                path,
                403,
                f"Key {principal.key_id} has scopes {list(principal.scopes)}; this request needs '{needed}'. "
                "Create a key with that scope (`itscam keys create --scopes ...`).",
            ), principal.key_id
        state = scope.setdefault("state", {})
        state["principal"] = principal
        if fused(scope["method"], path):
            state["rate_deferred"] = principal
            return None, principal.key_id
        try:
            allowed, retry_after = await self.deps.limiter.hit(principal.key_id, principal.rate_per_minute)
        except UNAVAILABLE as e:
            log.warning("rate limit check failed", extra={"error": str(e)})
            return problem(path, 503, unavailable_detail(e), headers={"Retry-After": "5"}), principal.key_id
        if not allowed:
            p = rate_limited(principal.key_id, principal.rate_per_minute, retry_after)
            return problem(path, 429, p.detail, headers=p.headers), principal.key_id
        return None, principal.key_id


def take_token(scope: Scope) -> Any:
    """The principal whose rate-limit token this (fused) route must take itself, if the gate deferred it."""
    return scope.get("state", {}).pop("rate_deferred", None)
