"""The audit log of admin actions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime


class AuditEvent(Base):
    """Who (key and its label) did what (action, target) when, and why (the reason given)."""

    __tablename__ = "audit_events"

    # An increasing number, so readers can page with ?after=<seq> and never miss a row.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    actor_key_id: Mapped[str | None] = mapped_column(String(36), index=True)
    actor_label: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str | None] = mapped_column(String(1000))
    # Non-secret facts about the action (an item id, a label, an expiry); never a key, token or answer.
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
