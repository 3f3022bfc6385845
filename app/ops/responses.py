"""JSON error responses sent straight from ASGI middleware (before any route runs)."""

from __future__ import annotations

import json

from starlette.types import Send


async def send_json_error(
    send: Send, status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> None:
    """Send `{"error", "detail"}` with `status`."""
    body = json.dumps({"error": code, "detail": detail}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
