"""Streaming stages: camera ingest (streams.ingest) and the analytics stream processor (streams.analytics)."""

__all__: list[str] = []
