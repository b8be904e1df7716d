"""Contracts shared by every deployable: Avro schemas, event types, serde, the topic catalogue, the camera record.

Contracts only: the runtime Kafka code (client config, topic admin, consume loops, the registry's producer/reader)
lives in eventbus/. This package imports nothing else of ours (checked by import-linter).
"""

from schemas.dlq import dead_letter
from schemas.errors import SchemaError, UnknownSchemaError
from schemas.events import DeadLetter, Detection, DetectionsProduced, FrameCaptured, ModelInfo, Timings
from schemas.serde import MAGIC, Codec, codec, decode_any, schema_files
from schemas.topics import CATALOGUE, DETECTIONS, DLQ, FRAMES, SCHEMAS, Topic, topic

__all__ = [
    "CATALOGUE",
    "DETECTIONS",
    "DLQ",
    "FRAMES",
    "MAGIC",
    "SCHEMAS",
    "Codec",
    "DeadLetter",
    "Detection",
    "DetectionsProduced",
    "FrameCaptured",
    "ModelInfo",
    "SchemaError",
    "Timings",
    "Topic",
    "UnknownSchemaError",
    "codec",
    "dead_letter",
    "decode_any",
    "schema_files",
    "topic",
]
