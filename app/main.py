"""create_app(settings): lifespan, routers, and the one place errors become JSON."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.assessments.generators.bank import BANK_DIR, BankGenerator
from app.assessments.jobs import JobRunner
from app.assessments.router import router as assessments_router
from app.audit.router import router as audit_router
from app.auth import service as auth_service
from app.auth.router import api_keys_router
from app.auth.router import router as auth_router
from app.calibration.router import router as calibration_router
from app.config import Settings
from app.credentials import canonical_pool
from app.credentials.router import router as credentials_router
from app.credentials.router import vc_api_router as vc_api_issuer_router
from app.db import Database, get_session
from app.errors import AppError, ErrorBody, PayloadTooLarge, validation_detail
from app.grading.pool import GradingPool
from app.issuer import service as issuer_service
from app.keys.keystore import FileKeyStore
from app.keys.router import router as keys_router
from app.keys.signals import install_sighup_reload
from app.ops.access import AccessMiddleware
from app.ops.ratelimit import RateLimiter, RateLimitMiddleware, document_429
from app.ops.responses import send_json_error
from app.ops.router import router as ops_router
from app.pages import render, verify_page
from app.pages.router import router as pages_router
from app.status_lists.router import router as status_lists_router
from app.status_lists.service import DatabaseStatusLookup
from app.strict_json import StrictJsonBodies
from app.verification import batch, trusted
from app.verification.batch import DatabaseBatchStatus
from app.verification.fast_path import VerifyFastPath
from app.verification.router import router as verification_router
from app.verification.service import FormerUrlStatusLookup, LocalKeyResolver, Verifier
from app.verification.vc_api import router as vc_api_router

logger = logging.getLogger("skillproof")

MAX_BODY_BYTES = 1024 * 1024
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Verifier routes: a duplicate JSON key there is a verdict on the credential (200 `malformed`), not a 422.
VERDICT_PATHS = frozenset(
    {"/v1/credentials/verify", "/v1/credentials/verify-batch", "/credentials/verify", "/presentations/verify"}
)
# The W3C VC API routes answer a body they cannot take with 400, as that spec says (the /v1 API: 422).
VC_API_PATHS = frozenset({"/credentials/verify", "/presentations/verify", "/credentials/issue"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BodyLimit:
    """Refuses bodies over a limit with 413 before the app reads them."""

    def __init__(self, app: ASGIApp, limit: int, route_limits: dict[str, int] | None = None,
                 own_refusals: frozenset[str] = frozenset()):
        self.app = app
        self.limit = limit
        self.route_limits = route_limits or {}  # routes allowed a larger body (their own 413 applies)
        # Routes that answer an oversized Content-Length themselves (a page, not JSON); the count still applies.
        self.own_refusals = own_refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = max(self.limit, self.route_limits.get(scope.get("path", ""), 0))
        for name, value in () if scope.get("path") in self.own_refusals else scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await send_json_error(send, 413, "payload_too_large", f"The body is over {limit} bytes.")
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"The body is over {limit} bytes.")
            return message

        await self.app(scope, limited_receive, send)


GC_YOUNG_THRESHOLD = 10_000


class SkillproofApp(FastAPI):
    """FastAPI, with the verify route served ahead of routing (app.verification.fast_path) once set."""

    verify_fast_path: VerifyFastPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.verify_fast_path
        if fast is not None and scope["type"] == "http" and fast.handles(scope):
            await fast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> FastAPI:
    """The Skillproof app; the database schema must already be migrated (skillproof migrate).

    freeze_heap (the server process): once started, the objects that live as long as the process (modules,
    routes, models, ~170,000 of them) are moved out of the cyclic collector's sight (gc.freeze), so that its full
    passes, set off by the objects a verify-batch keeps for a while, look at the request's objects only; they cost
    ~80 ms per 1,000-credential batch before.
    """
    settings = settings or Settings()
    generator = BankGenerator(settings.bank_dir or BANK_DIR)  # a bad bank file stops the start here (BankError)
    rate_limiter = RateLimiter(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal settings  # replaced by the same settings under the stored issuer identity
        assert settings is not None
        keystore = FileKeyStore(settings.keys_dir, settings.signing_alg)
        keystore.ensure()
        database = Database(
            settings.sqlalchemy_url, sessions=settings.db_sessions, queue_seconds=settings.db_queue_seconds
        )
        # The issuer identity is fixed at first start (whatever the port); a changed PUBLIC_URL refuses to start.
        try:
            identity = issuer_service.adopt_once(database.sessions, settings, _now())
            app.state.identity_adopted = True
        except issuer_service.IdentityMismatch:
            database.dispose()
            raise
        except SQLAlchemyError as exc:
            # Start anyway so /ready can say why; not ready (and so given no traffic) until a restart adopts it.
            logger.warning("issuer identity not read (database not ready: %s); /ready reports not ready",
                           type(exc).__name__)
            identity = issuer_service.Identity(settings.base_url, settings.issuer_did)
            app.state.identity_adopted = False
        settings = settings.with_public_url(identity.public_url)
        if settings.admin_api_key:
            with database.sessions.begin() as session:
                auth_service.ensure_admin_key(session, settings.admin_api_key, _now())
        app.state.settings = settings
        app.state.keystore = keystore
        app.state.database = database
        app.state.generator = generator
        app.state.grading_pool = GradingPool(settings.grading_workers, settings.grading_queue)
        if generator.kind == "demo":
            logger.warning("items come from the bundled demo bank, whose keys are public; set SKILLPROOF_BANK_DIR "
                           "to a private bank before issuing credentials others rely on")
        app.state.job_runner = JobRunner(database, settings, app.state.generator)
        app.state.job_runner.start()
        local_resolver = LocalKeyResolver(keystore, settings.issuer_did, identity.former_dids)
        own_lists = DatabaseStatusLookup(database.engine, settings.base_url)
        local_lookup = FormerUrlStatusLookup(own_lists, settings.base_url, identity.former_urls)
        app.state.verifier = Verifier(
            local_resolver, local_lookup, _now, bind=trusted.router(settings, local_resolver, local_lookup, _now),
            inline=own_lists.reads_in_microseconds,
        )
        app.state.batch_status = DatabaseBatchStatus(database.engine, settings.base_url, identity.former_urls)
        app.state.batch_slots = anyio.Semaphore(batch.usable_cores())
        uninstall_sighup = install_sighup_reload(keystore)
        workers = settings.canonicalize_workers
        canonical_workers = canonical_pool.default_workers() if workers is None else workers
        canonical_pool.start(canonical_workers)
        thresholds = gc.get_threshold()
        if freeze_heap:
            gc.collect()
            gc.freeze()
            # A young collection every 10,000 objects instead of 700: a verify-batch holds ~6,000 (64 decoded
            # credentials) at a time, so at 700 each chunk was walked ~9 times and moved to older generations
            # before being freed by reference counting anyway (~5% of a batch's CPU, measured in-process).
            gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
        try:
            yield
        finally:
            if freeze_heap:
                gc.set_threshold(*thresholds)
                gc.unfreeze()
            uninstall_sighup()
            app.state.job_runner.stop()
            canonical_pool.stop(canonical_workers)
            app.state.grading_pool.shutdown()
            database.dispose()
            await rate_limiter.aclose()

    app = SkillproofApp(
        title="Skillproof",
        version="0.1.0",
        summary="Skill assessments that end in verifiable Open Badges 3.0 credentials.",
        lifespan=lifespan,
    )

    @app.exception_handler(AppError)
    async def on_app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "validation_error", "detail": validation_detail(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(app, request)}
        return JSONResponse(
            {"error": codes.get(exc.status_code, "http_error"), "detail": str(exc.detail)},
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(ClientDisconnect)
    async def on_client_gone(_: Request, exc: ClientDisconnect) -> JSONResponse:
        # The client left (or was cut off by the body read timeout) mid-body: nobody reads this answer.
        return JSONResponse({"error": "client_disconnected", "detail": "The client went away."}, status_code=408)

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            {"error": "internal_error", "detail": "Something went wrong on our side."}, status_code=500
        )

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, Any]:  # async: answers without a worker thread, however busy they are
        """Liveness."""
        return {"status": "ok"}

    app.include_router(ops_router)
    # The public, hot paths first: routes are matched in order, and verify is the busiest of all.
    routers = (
        verification_router, status_lists_router, keys_router, auth_router, assessments_router,
        credentials_router, api_keys_router, audit_router, calibration_router, vc_api_router, vc_api_issuer_router,
        pages_router,
        verify_page.router,
    )
    for router in routers:
        app.include_router(router)
    # Inside BodyLimit (added later = outer): the strict parse only ever sees bodies within the limit.
    app.add_middleware(
        StrictJsonBodies, verdict_paths=VERDICT_PATHS, bad_request_paths=VC_API_PATHS,
        # verify-batch reads and parses its (up to 16 MB) body itself, off the event loop: 0 passes it through unread.
        route_limits={"/v1/credentials/verify": settings.verify_max_body_bytes, "/v1/credentials/verify-batch": 0},
    )
    app.add_middleware(
        BodyLimit, limit=MAX_BODY_BYTES,
        # The verify page takes a baked badge image (up to 8 MB) and answers a larger one with its own 413 page.
        route_limits={"/v1/credentials/verify-batch": settings.verify_batch_max_body_bytes,
                      verify_page.PATH: verify_page.body_limit(settings)},
        own_refusals=frozenset({verify_page.PATH}),
    )
    app.add_middleware(RateLimitMiddleware, settings=settings, limiter=rate_limiter,
                       refusal_page=render.rate_limited_page(settings.issuer_name))
    app.add_middleware(AccessMiddleware, settings=settings)  # outermost: every response gets a request id
    app.verify_fast_path = VerifyFastPath(app, settings, rate_limiter)
    _document_validation_errors_as_error_body(app, routers)
    return app


def _allowed_methods(app: FastAPI, request: Request) -> str:
    """The methods documented for the path template this path falls under (RFC 9110 §15.5.6): the most literal
    template wins, as /v1/credentials/verify over /v1/credentials/{credential_id}. Starlette names one route's."""
    path = request.scope.get("path", "")
    matches = [
        (template.count("{"), template)
        for template in app.openapi().get("paths", {})
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path)
    ]
    if matches:
        documented = app.openapi()["paths"][min(matches)[1]]
        return ", ".join(sorted(method.upper() for method in documented))
    return ", ".join(  # an undocumented route (/openapi.json, /docs)
        method for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in app.router.routes)
    )


def _document_validation_errors_as_error_body(app: FastAPI, routers: tuple[APIRouter, ...]) -> None:
    """Our 422 bodies are ErrorBody, not FastAPI's HTTPValidationError: say so in the schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                response = operation.get("responses", {}).get("422")
                if response is None or "text/html" in response.get("content", {}):  # a page's own 422 (/verify)
                    continue
                response["description"] = "Invalid input"
                response["content"] = {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                }
        schemas = document.get("components", {}).get("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
        document_429(document, html_paths=render.HTML_REFUSAL_PATHS)
        _document_busy(routers, document)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _uses_database(dependant: Dependant) -> bool:
    return any(dep.call is get_session or _uses_database(dep) for dep in dependant.dependencies)


def _document_busy(routers: tuple[APIRouter, ...], document: dict[str, Any]) -> None:
    """Every operation that waits for a database session can answer 503 busy: say so in OpenAPI."""
    for route in (route for router in routers for route in router.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema or not _uses_database(route.dependant):
            continue
        for method in route.methods or ():
            operation = document.get("paths", {}).get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            operation.setdefault("responses", {}).setdefault("503", {
                "description": "Busy: no database session came in time; retry after `Retry-After` seconds",
                "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            })
