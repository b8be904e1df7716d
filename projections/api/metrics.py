"""Prometheus metrics of the API."""

from prometheus_client import Counter, Histogram

__all__ = ["AUDIT_DROPPED", "AUDIT_WRITTEN", "LATENCY", "QUERY_CACHE", "REQUESTS"]

REQUESTS = Counter("its_api_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "its_api_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
AUDIT_WRITTEN = Counter("its_api_audit_rows_written_total", "Audit rows written to PostgreSQL")
AUDIT_DROPPED = Counter("its_api_audit_dropped_total", "Audit rows dropped (PostgreSQL down too long, or refused)")
QUERY_CACHE = Counter("its_api_query_cache_total", "Counts/fleet responses by query-cache outcome", ["outcome"])
