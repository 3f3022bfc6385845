"""Issued credentials."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime, new_id


class Credential(Base):
    """A credential is stored unsigned first; `jwt` is filled in by the same transaction.

    `kind` is `graded` (a passed attempt: attempt and assessment set) or `award` (an admin's manual award
    through POST /credentials/issue: neither set).
    """

    __tablename__ = "credentials"
    __table_args__ = (
        CheckConstraint("kind IN ('graded', 'award')", name="kind_known"),
        CheckConstraint(
            "(kind = 'graded' AND attempt_id IS NOT NULL AND assessment_id IS NOT NULL) "
            "OR (kind = 'award' AND attempt_id IS NULL AND assessment_id IS NULL)",
            name="kind_matches_attempt",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    attempt_id: Mapped[str | None] = mapped_column(ForeignKey("attempts.id"), unique=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), index=True)
    assessment_id: Mapped[str | None] = mapped_column(ForeignKey("assessments.id"), index=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    jwt: Mapped[str | None] = mapped_column(Text)
    kid: Mapped[str | None] = mapped_column(String(100))
    # The same credential with an embedded DataIntegrityProof; null for credentials issued before it existed.
    ldp: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16), server_default="graded")
