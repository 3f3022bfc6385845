"""Structured logs: one JSON object per line, with the request id; secrets are scrubbed from every line."""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
import time
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


def _json_line(
    created: float, level: str, name: str, message: str, request_id: str | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """The JSON object of one line (JsonFormatter and write_access_line write the same)."""
    entry: dict[str, Any] = {
        "time": dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": name,
        "message": redact(message),
    }
    if request_id:
        entry["request_id"] = request_id
    for field in REQUEST_FIELDS:
        value = fields.get(field)
        if value is not None:
            entry[field] = value
    return entry


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and the access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _json_line(
            record.created, record.levelname.lower(), record.name, record.getMessage(),
            getattr(record, "request_id", None) or request_id_var.get(),
            {field: getattr(record, field, None) for field in REQUEST_FIELDS},
        )
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


# The JSON handler configure_logging installed (None: not configured, or text lines).
_json_handler: logging.StreamHandler[Any] | None = None


def _only_json_handler_sees(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The JSON handler, if it is the only one a record of `logger` would reach and nothing filters the record."""
    handler = _json_handler
    if handler is None or handler.filters or handler.level > logging.INFO or not logger.isEnabledFor(logging.INFO):
        return None
    node: logging.Logger | None = logger
    while node is not None:
        if node.disabled or node.filters:
            return None
        if node is logging.root:
            return handler if node.handlers == [handler] else None
        if node.handlers or not node.propagate:
            return None
        node = node.parent
    return None


def write_access_line(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """logger.info(message, extra=fields), written straight to the JSON handler when it alone would see it.

    One line per request: the LogRecord, the handler chain and the formatter's lookups were ~41,000
    instructions of a verify's 2.26M (callgrind). Any other set-up (text lines, tests' capture handlers,
    filters) takes the logging path.
    """
    handler = _only_json_handler_sees(logger)
    if handler is None:
        logger.info(message, extra=fields)
        return
    line = orjson.dumps(_json_line(time.time(), "info", logger.name, message, request_id_var.get(), fields),
                        default=str)
    handler.acquire()
    try:
        handler.stream.write(line.decode() + handler.terminator)
        handler.flush()
    except Exception:
        handler.handleError(logging.makeLogRecord({"name": logger.name, "msg": message, **fields}))
    finally:
        handler.release()


def configure_logging(log_format: str = "json", level: str = "info") -> None:
    """Route the root logger (ours and uvicorn's) to stderr in the chosen format."""
    # Every request writes an access line: skip what no line shows (the logging HOWTO's "Optimization":
    # caller's file and line, thread, process), a stack walk and three lookups per record.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    global _json_handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    _json_handler = handler if log_format == "json" else None
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
