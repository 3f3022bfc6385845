"""JSON responses sent straight from ASGI code (middleware, and the routes served before routing)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import Send


async def send_json(send: Send, status: int, content: Any, headers: dict[str, str] | None = None) -> None:
    """Send `content` as compact JSON with `status`."""
    await _send(send, status, b"application/json", orjson.dumps(content), headers)


async def send_html(send: Send, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    """Send an HTML page (UTF-8) with `status`."""
    await _send(send, status, b"text/html; charset=utf-8", body, headers)


async def _send(send: Send, status: int, media_type: bytes, body: bytes, headers: dict[str, str] | None) -> None:
    raw_headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def send_json_error(
    send: Send, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> None:
    """Send `{"error", "detail"}` with `status`."""
    await send_json(send, status, {"error": code, "detail": detail}, headers)
