"""Assessments, attempts and their grades."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime, new_id


class Assessment(Base):
    __tablename__ = "assessments"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published')", name="status_known"),
        CheckConstraint("status = 'draft' OR content_hash IS NOT NULL", name="published_has_hash"),
        CheckConstraint("pass_percent >= 0 AND pass_percent <= 100", name="pass_percent_range"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    skill: Mapped[str] = mapped_column(String(100), index=True)
    skill_name: Mapped[str] = mapped_column(String(200))
    skill_description: Mapped[str] = mapped_column(String(1000))
    level: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    generator: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(Integer)
    time_limit_seconds: Mapped[int] = mapped_column(Integer)
    pass_percent: Mapped[float] = mapped_column(Float)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    rubric: Mapped[dict[str, Any]] = mapped_column(JSONType)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id"), index=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), index=True)
    # Seeds the per-attempt order of items and options; recorded so the draw can be reproduced.
    seed: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Grade(Base):
    """The one grade of an attempt; the unique attempt_id is what makes grading happen once."""

    __tablename__ = "grades"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    attempt_id: Mapped[str] = mapped_column(ForeignKey("attempts.id"), unique=True)
    responses: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    percent: Mapped[float] = mapped_column(Float)
    passed: Mapped[bool] = mapped_column(Boolean)
    item_scores: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    # The exact bytes of the first response, replayed for a repeated Idempotency-Key.
    response_body: Mapped[str] = mapped_column(Text)
    graded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
