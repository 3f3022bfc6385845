"""GET /ready (database, migrations, signing key) and GET /metrics (Prometheus text format)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from app.errors import ErrorBody, Unauthorized, error_responses
from app.ops import metrics, readiness

router = APIRouter(tags=["operations"])


class ReadyOut(BaseModel):
    """200: every check is "ok"; the 503 body adds `error` and `detail` and names the failed checks."""

    status: str
    checks: dict[str, str]


@router.get(
    "/ready",
    response_model=ReadyOut,
    responses={
        503: {"model": ErrorBody, "description": "Not ready: also has `status` and `checks` (which check failed)"},
    },
)
def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers, its schema is at the migration head, a signing key is loaded."""
    checks = readiness.run_checks(request.app.state)
    failed = {name: result for name, result in checks.items() if result != "ok"}
    if not failed:
        return JSONResponse({"status": "ready", "checks": checks})
    detail = "; ".join(f"{name}: {result}" for name, result in failed.items())
    body: dict[str, Any] = {"error": "not_ready", "detail": detail, "status": "not_ready", "checks": checks}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}},
        **error_responses(401),
    },
)
def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format; needs `Authorization: Bearer <SKILLPROOF_METRICS_TOKEN>` when that is set."""
    state = request.app.state
    expected = state.settings.metrics_token
    if expected:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise Unauthorized("GET /metrics needs the metrics token: Authorization: Bearer <token>.")
    pool = getattr(getattr(getattr(state, "database", None), "engine", None), "pool", None)
    return Response(
        metrics.render(readiness.ops_engine(state), pool),
        media_type=CONTENT_TYPE_LATEST,
    )
