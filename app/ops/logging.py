"""Structured logs: one JSON object per line, with the request id; secrets are scrubbed from every line."""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("skillproof_request_id", default=None)

# Fields an access line carries (set with `extra=`); anything else passed in `extra` is not written.
REQUEST_FIELDS = ("method", "route", "status", "duration_ms", "client")
# Defence in depth: nothing logs bodies or headers, but an exception message may quote input.
_SECRETS = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"  # compact JWS / JWT
    r"|sk_[A-Za-z0-9_-]{8,}"  # API keys
    r"|(?i:bearer)\s+[^\s\"',]+"  # Authorization values
)


def redact(text: str) -> str:
    """The text with tokens, API keys and bearer values replaced."""
    return _SECRETS.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and the access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for field in REQUEST_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for development, scrubbed the same way."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{field}={getattr(record, field)}" for field in REQUEST_FIELDS if hasattr(record, field))
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        tail = f"request_id={request_id}" if request_id else ""
        return redact(" ".join(part for part in (line, extras, tail) if part))


def configure_logging(log_format: str = "json", level: str = "info") -> None:
    """Route the root logger (ours and uvicorn's) to stderr in the chosen format."""
    # Every request writes an access line: skip what no line shows (the logging HOWTO's "Optimization":
    # caller's file and line, thread, process), a stack walk and three lookups per record.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our access line (route template, status, duration) replaces uvicorn's, which logs raw paths and queries.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("uvicorn.access").disabled = True
