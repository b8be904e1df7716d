"""Prometheus metrics of the API."""

from prometheus_client import Counter, Histogram

__all__ = ["LATENCY", "REQUESTS"]

REQUESTS = Counter("its_api_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "its_api_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
