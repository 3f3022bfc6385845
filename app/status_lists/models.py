"""Bitstring status lists and the entries credentials hold in them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, new_id


class StatusList(Base):
    __tablename__ = "status_lists"
    __table_args__ = (
        CheckConstraint("purpose IN ('revocation', 'suspension', 'message')", name="purpose_known"),
        CheckConstraint("length >= 131072", name="length_minimum"),
        CheckConstraint("status_size BETWEEN 1 AND 8", name="status_size_range"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    purpose: Mapped[str] = mapped_column(String(16), index=True)
    # Entries (not bits): the encoded bitstring holds length * status_size bits.
    length: Mapped[int] = mapped_column(Integer)
    status_size: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Filled to at most this many entries, so random draws stay cheap and the herd stays large.
    capacity: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class StatusEntry(Base):
    """One credential's entry in one list (its value, status_size bits); the source of truth the list is encoded from.

    A credential has one `message` entry, or (issued before it existed) a `revocation` and a `suspension` entry.
    """

    __tablename__ = "status_entries"
    __table_args__ = (
        UniqueConstraint("list_id", "status_index"),
        UniqueConstraint("credential_id", "purpose"),
        CheckConstraint("status_index >= 0", name="index_non_negative"),
        CheckConstraint("value >= 0", name="value_non_negative"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    list_id: Mapped[str] = mapped_column(ForeignKey("status_lists.id"))
    status_index: Mapped[int] = mapped_column(Integer)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reason: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
