"""Stored calibrations and item reviews (statistics at the last run, quarantine)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime


class ItemCalibration(Base):
    """An item's current Rasch difficulty; a run replaces every row of the skill and level it fits."""

    __tablename__ = "item_calibrations"

    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    skill: Mapped[str] = mapped_column(String(100), index=True)
    level: Mapped[str] = mapped_column(String(100))
    difficulty: Mapped[float] = mapped_column(Float)
    se: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    # One scale per skill, level and run: `rasch:<skill>/<level>@<fitted_at>`; abilities compare only within it.
    scale: Mapped[str] = mapped_column(String(300))
    fitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    model: Mapped[str] = mapped_column(String(200))


class ItemReview(Base):
    """An item's first-attempt figures at the last run, and its quarantine (automatic) and release (by an admin)."""

    __tablename__ = "item_reviews"

    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    skill: Mapped[str] = mapped_column(String(100), index=True)
    level: Mapped[str] = mapped_column(String(100))
    responses: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType)
    quarantined: Mapped[bool] = mapped_column(Boolean, default=False)
    reasons: Mapped[list[str]] = mapped_column(JSONType)
    quarantined_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    release_note: Mapped[str | None] = mapped_column(String(1000))
    # Responses when released: automatic quarantine looks at it again only after as many new responses.
    released_responses: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
