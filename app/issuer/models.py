"""The issuer identity: the public URL (and so the did:web) credentials are signed under."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class IssuerIdentity(Base):
    """One row per public URL this issuer has used; `current` is True on exactly one row, NULL on the others."""

    __tablename__ = "issuer_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    public_url: Mapped[str] = mapped_column(String(2048), unique=True)
    did: Mapped[str] = mapped_column(String(2048))
    # True or NULL: a unique column admits many NULLs (SQLite and PostgreSQL), so only one row can be current.
    current: Mapped[bool | None] = mapped_column(Boolean, unique=True)
    adopted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
