"""Annotated dependency aliases shared by the routers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from app.audit.service import AuditTrail
from app.auth import service as auth_service
from app.config import Settings
from app.db import get_session
from app.errors import Forbidden, Unauthorized, Unprocessable
from app.keys.keystore import FileKeyStore


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in a worker thread,
# a thread hand-off per dependency per request for what takes a microsecond.
async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_keystore(request: Request) -> FileKeyStore:
    return request.app.state.keystore  # type: ignore[no-any-return]


async def get_clock() -> dt.datetime:
    """Now, in UTC; tests override this to move time."""
    return dt.datetime.now(dt.UTC)


# scope="function": the transaction commits before the response is sent, so a failed commit is an error.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
KeyStoreDep = Annotated[FileKeyStore, Depends(get_keystore)]
ClockDep = Annotated[dt.datetime, Depends(get_clock)]


def get_principal(request: Request, session: SessionDep, now: ClockDep) -> auth_service.Principal:
    header = request.headers.get("authorization", "")
    scheme, _, raw_key = header.partition(" ")
    if scheme.lower() != "bearer" or not raw_key.strip():
        raise Unauthorized()
    principal = auth_service.authenticate(session, raw_key.strip(), now)
    if principal is None:
        raise Unauthorized("The API key is unknown, revoked or expired.")
    request.state.principal_id = principal.learner_id or principal.key_id  # rate limits key on the principal
    return principal


CurrentPrincipal = Annotated[auth_service.Principal, Depends(get_principal)]


async def require_admin(principal: CurrentPrincipal) -> auth_service.Principal:
    if not principal.is_admin:
        raise Forbidden("This needs an admin API key.")
    return principal


async def require_learner(principal: CurrentPrincipal) -> auth_service.Principal:
    if principal.role != "learner" or principal.learner_id is None:
        raise Forbidden("This needs a learner API key.")
    return principal


AdminOnly = Annotated[auth_service.Principal, Depends(require_admin)]
CurrentLearner = Annotated[auth_service.Principal, Depends(require_learner)]


async def get_audit_trail(
    principal: CurrentPrincipal, session: SessionDep, now: ClockDep,
    reason: Annotated[str | None, Header(
        alias="X-Audit-Reason", max_length=1000,
        description="Why this admin action is taken (recorded in the audit log); percent-encode non-ASCII.",
    )] = None,
) -> AuditTrail:
    """The audit log of this request, in its transaction."""
    if reason is not None:
        reason = unquote(reason).strip() or None
        if reason is not None and any(ord(char) < 32 or ord(char) == 127 for char in reason):
            raise Unprocessable("X-Audit-Reason must not hold control characters.")
    return AuditTrail(session, principal, now, reason)


AuditDep = Annotated[AuditTrail, Depends(get_audit_trail)]
