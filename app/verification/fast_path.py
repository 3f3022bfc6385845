"""POST /v1/credentials/verify answered before the framework routes the request.

Verify is the busiest public route and its own work is small (one signature, one status read), so the
framework's share of each request (its middleware stack, routing, dependency solving, a second pass over the
body) was most of its cost. Here the request still passes what every request gets: the request id, metrics
and access log (AccessMiddleware) and the rate limit (RateLimitMiddleware); then the body is read once and
answered by the same code as the routed endpoint (router.verify_response), which stays in the OpenAPI
document and answers any request this path leaves to it (one with a query string).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.errors import AppError
from app.ops.access import AccessMiddleware
from app.ops.ratelimit import RateLimiter, RateLimitMiddleware
from app.ops.responses import send_json, send_json_error
from app.verification.router import receive_body, verify_response

logger = logging.getLogger("skillproof")

PATH = "/v1/credentials/verify"


class VerifyFastPath:
    """The ASGI app for POST /v1/credentials/verify, wrapped in the same per-request middleware as the API."""

    def __init__(self, app: Any, settings: Settings, limiter: RateLimiter):
        self.app = app  # the FastAPI app: its state holds the verifier once the lifespan has started
        self.limit = settings.verify_max_body_bytes
        self.chain: ASGIApp = AccessMiddleware(RateLimitMiddleware(self._verify, settings, limiter), settings)

    def handles(self, scope: Scope) -> bool:
        return scope["path"] == PATH and scope["method"] == "POST" and not scope.get("query_string")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["route_template"] = PATH  # the access log's and metrics' route label
        await self.chain(scope, receive, send)

    async def _verify(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw = await receive_body(scope, receive, self.limit)
            content = await verify_response(self.app.state, raw)
        except AppError as exc:
            await send_json(send, exc.status, exc.body(), exc.headers or None)
        except ClientDisconnect:
            await send_json_error(send, 408, "client_disconnected", "The client went away.")
        except Exception:  # the app's last-resort handler, as on routed requests
            logger.exception("unhandled error")
            await send_json_error(send, 500, "internal_error", "Something went wrong on our side.")
        else:
            await send_json(send, 200, content)
