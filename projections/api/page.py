"""The traffic engineer's web page: /ui (one HTML file, ES modules, a stylesheet and the vendored uPlot charting
library under static/vendor/; no build step, no CDN).

The page is public (it holds no data); it asks for an API key, from the URL fragment `#key=its_...` (never sent to
the server) or an input field, and calls the /v1 API with `Authorization: Bearer` like any other client. The
camera's still is fetched the same way and shown from a `blob:` URL, which is why img-src allows `blob:`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "routes"]

STATIC_DIR = Path(__file__).with_name("static")

# Only our own files: no inline script or style, no third-party origin, no framing. The API key lives in the
# page's memory and localStorage, so script injection is the threat this guards against.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class _Static(StaticFiles):
    """Our files, revalidated on every load (a cheap 304 thanks to the ETag), so an upgrade is never half-seen."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


async def _index(request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=_HEADERS)


async def _slash(request: Request) -> Response:
    return RedirectResponse(request.url.replace(path=request.url.path.rstrip("/")), status_code=308)


def routes() -> list[BaseRoute]:
    """The page at /ui and its files under /ui/static/ (served from projections/api/static/)."""
    return [
        Route("/ui", _index, methods=["GET", "HEAD"], name="ui"),
        Route("/ui/", _slash, methods=["GET", "HEAD"]),
        Mount("/ui/static", app=_Static(directory=STATIC_DIR, check_dir=False), name="ui-static"),
    ]
