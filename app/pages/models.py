"""Share links: a learner makes one credential public at /c/{share_id}."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class CredentialShare(Base):
    """One public page of a credential. Taken down: `taken_down_at` set, the page answers 410 for good.

    `active_credential_id` is the credential's id while the share is up and NULL once it is taken down: a unique
    column admits many NULLs (SQLite and PostgreSQL), so a credential has at most one active share.
    """

    __tablename__ = "credential_shares"
    __table_args__ = (
        CheckConstraint(
            "(taken_down_at IS NULL AND active_credential_id = credential_id) "
            "OR (taken_down_at IS NOT NULL AND active_credential_id IS NULL)",
            name="active_until_taken_down",
        ),
    )

    # secrets.token_urlsafe(24): 192 random bits, the only thing a visitor needs to know.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    active_credential_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    show_score: Mapped[bool] = mapped_column(Boolean)
    show_name: Mapped[bool] = mapped_column(Boolean)
    indexable: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    taken_down_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
