"""Per-request context: the request id (X-Request-ID), request metrics and one access log line."""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings
from app.ops import metrics
from app.ops.logging import request_id_var, write_access_line
from app.ops.ratelimit import client_ip

access_logger = logging.getLogger("skillproof.access")

# A sane incoming id is kept (to follow a request through a proxy); anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.fullmatch(candidate) else None
    return None


# Request ids need to be unique, not unguessable: 128 bits from a Mersenne Twister seeded from the OS (at start,
# and again in a forked child) cost a fifth of uuid4's system call and object.
_request_ids = random.Random()  # noqa: S311 - an identifier, not a secret
os.register_at_fork(after_in_child=_request_ids.seed)
# Label children by (method, route, status): prometheus-client's labels() costs more than the count itself.
_MAX_CACHED_LABELS = 4096


def _new_request_id() -> str:
    return f"{_request_ids.getrandbits(128):032x}"


class AccessMiddleware:
    """Sets the request id, echoes it in X-Request-ID, counts and times the request, logs one line."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.trusted = tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in settings.trusted_proxies.split(",") if part.strip()
        )
        self._metric_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _children(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The request counter and latency histogram children of these labels."""
        key = (method, route, status)
        children = self._metric_children.get(key)
        if children is None:
            if len(self._metric_children) >= _MAX_CACHED_LABELS:  # methods are the client's: keep the map bounded
                self._metric_children.clear()
            children = (metrics.REQUESTS.labels(method, route, str(status)), metrics.LATENCY.labels(method, route))
            self._metric_children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or _new_request_id()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            metrics.IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            state = scope.get("state", {})
            route = getattr(scope.get("route"), "path", None) or state.get("route_template") or "unmatched"
            method = scope["method"]
            requests, latency = self._children(method, route, status)
            requests.inc()
            latency.observe(elapsed)
            if status == 429:
                metrics.RATE_LIMITED.labels(state.get("rate_limit_group", "unknown")).inc()
            write_access_line(access_logger, f"{method} {route} {status}", {
                "method": method, "route": route, "status": status,
                "duration_ms": round(elapsed * 1000, 2), "client": client_ip(scope, self.trusted),
            })
            request_id_var.reset(token)
