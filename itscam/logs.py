"""Structured logging for every deployable: one JSON object per line on stderr, every text in it redacted
(schemas.redaction: URL credentials, secret parameters, DSN passwords, Authorization headers, API tokens)."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from schemas.redaction import MASK, redact

__all__ = ["JsonFormatter", "redacted", "setup_logging"]

# log fields whose values are secrets whatever they hold (a Kafka "key" is a camera id: not one of them)
_SECRET_FIELD = re.compile(r"(?i)(passw|pwd|secret|token|api_?key|authori[sz]ation|credential|signature|private_key)")
_STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        doc.update({k: redacted(v, k) for k, v in vars(record).items() if k not in _STD})
        if record.exc_info:
            doc["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            doc["exc"] = redact(record.exc_text)
        if record.stack_info:
            doc["stack"] = redact(record.stack_info)
        return json.dumps(doc, default=lambda v: redact(str(v)))


def redacted(value: Any, name: str = "") -> Any:
    """`value` (of field `name`) for a log line: *** when the name is a secret's (password, token...); strings
    (also inside lists and dicts) redacted, numbers, booleans and None as they are, anything else as its redacted
    str()."""
    if name and value not in (None, "") and _SECRET_FIELD.search(name):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redacted(v) for v in value]
    return redact(str(value))


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
