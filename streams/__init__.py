"""Streaming stages: camera ingest (and, later, the analytics stream processor)."""

__all__: list[str] = []
