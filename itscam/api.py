"""`itscam api`: uvicorn serving projections.api, with uvloop and httptools when installed and
`--workers` processes; /metrics on its own port aggregates every worker (prometheus_client multiprocess mode)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import tempfile
from typing import Any

from itscam._args import overrides

__all__ = ["add_parser", "serve"]


def serve(flags: dict[str, Any]) -> int:
    """Run uvicorn with ApiSettings from the environment, `flags` (settings field -> value) overriding it."""
    import uvicorn

    from projections.api import ApiSettings

    s = ApiSettings(**flags)
    # Worker processes build their own settings from the environment: pass the command-line overrides through it.
    for name, value in flags.items():
        os.environ[f"ITS_API_{name.upper()}"] = str(value)
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    # Worker processes start with a bare logging setup: give them the same one-JSON-object-per-line logs.
    log_config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "itscam.logs.JsonFormatter", "service": "itscam-api"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": logging.getLevelName(logging.getLogger().level)},
        "loggers": {"uvicorn.access": {"level": "WARNING"}},
    }
    common: dict[str, Any] = {
        "host": s.host,
        "port": s.port,
        "loop": loop,
        "http": http,
        "log_config": log_config if s.workers > 1 else None,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    with tempfile.TemporaryDirectory(prefix="itscam-api-metrics-") as metrics_dir:
        if s.workers > 1:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        if s.metrics_port:
            from prometheus_client import CollectorRegistry, start_http_server
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = None
            if s.workers > 1:
                registry = CollectorRegistry()
                MultiProcessCollector(registry, path=metrics_dir)  # type: ignore[no-untyped-call]
            if registry is not None:
                start_http_server(s.metrics_port, addr=s.metrics_host, registry=registry)
            else:
                start_http_server(s.metrics_port, addr=s.metrics_host)
        if s.workers > 1:
            uvicorn.run("projections.api.app:create_app", factory=True, workers=s.workers, **common)
        else:
            from projections.api import create_app

            uvicorn.run(create_app(s), **common)
    return 0


def _cmd(args: argparse.Namespace) -> int:
    return serve(overrides(args, ["host", "port", "metrics_port", "workers"]))


def add_parser(sub: Any) -> None:
    ap = sub.add_parser(
        "api",
        help="Serve the query API.",
        description="Starlette on uvicorn (uvloop + httptools when installed): /health, /ready, /openapi.json, "
        "/docs and the /v1 routes behind API keys (`itscam keys create`). Settings: ITS_API_*.",
    )
    ap.add_argument("--host", help="Listen address (127.0.0.1).")
    ap.add_argument("--port", type=int, help="Port (8080).")
    ap.add_argument("--metrics-port", type=int, help="Prometheus port (9104; 0 = off).")
    ap.add_argument("--workers", type=int, help="uvicorn worker processes (ITS_API_WORKERS, 2).")
    ap.set_defaults(fn=_cmd)
