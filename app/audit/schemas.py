"""Response bodies of the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    occurred_at: dt.datetime
    actor_key_id: str | None
    actor_label: str | None
    actor_role: str
    action: str
    target_type: str
    target_id: str
    reason: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_after: int | None
