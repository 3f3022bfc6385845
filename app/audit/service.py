"""Writing and reading the audit log; a record is written in the transaction of the action it records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEvent
from app.auth.service import Principal

# What the CLI records as the actor of its own admin actions (no API key was used).
CLI_ACTOR = Principal(key_id="", role="admin", learner_id=None, label="skillproof CLI")


def record(
    session: Session, *, actor: Principal, action: str, target_type: str, target_id: str, now: dt.datetime,
    reason: str | None = None, details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to the current transaction (it commits or rolls back with the action)."""
    event = AuditEvent(
        occurred_at=now, actor_key_id=actor.key_id or None, actor_label=actor.label, actor_role=actor.role,
        action=action, target_type=target_type, target_id=target_id, reason=reason, details=details or {},
    )
    session.add(event)
    session.flush()
    return event


class AuditTrail:
    """The audit log bound to one request: its session, caller, clock and the reason header given."""

    def __init__(self, session: Session, actor: Principal, now: dt.datetime, header_reason: str | None):
        self.session = session
        self.actor = actor
        self.now = now
        self.header_reason = header_reason

    def record(
        self, action: str, target_type: str, target_id: str, *, reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Record an action of this request; a reason in the body wins over the X-Audit-Reason header."""
        return record(
            self.session, actor=self.actor, action=action, target_type=target_type, target_id=target_id,
            now=self.now, reason=reason or self.header_reason, details=details,
        )


def list_events(
    session: Session, *, after: int, limit: int, action: str | None, target_id: str | None
) -> Sequence[AuditEvent]:
    """Events after a sequence number, oldest first."""
    query = select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == target_id)
    return session.scalars(query).all()
