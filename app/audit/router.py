"""GET /v1/audit-events: the audit log of admin actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditEventOut, AuditPage
from app.deps import AdminOnly, SessionDep
from app.errors import error_responses

router = APIRouter(prefix="/v1/audit-events", tags=["audit"])


@router.get("", response_model=AuditPage, responses=error_responses(401, 403, 422))
def list_audit_events(
    _: AdminOnly, session: SessionDep,
    after: Annotated[int, Query(ge=0, le=2**53, description="return events with seq greater than this")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]+$")] = None,
    target_id: Annotated[str | None, Query(max_length=200, pattern=r"^[\x21-\x7e]+$")] = None,
) -> AuditPage:
    """Admin actions, oldest first; page with `after` = the previous page's `next_after`."""
    events = service.list_events(session, after=after, limit=limit, action=action, target_id=target_id)
    return AuditPage(
        events=[AuditEventOut.model_validate(event) for event in events],
        next_after=events[-1].seq if len(events) == limit else None,
    )
