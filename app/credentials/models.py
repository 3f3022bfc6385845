"""Issued credentials."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime, new_id


class Credential(Base):
    """A credential is stored unsigned first; `jwt` is filled in by the same transaction."""

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), unique=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), index=True)
    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    jwt: Mapped[str | None] = mapped_column(Text)
    kid: Mapped[str | None] = mapped_column(String(100))
    # The same credential with an embedded DataIntegrityProof; null for credentials issued before it existed.
    ldp: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
