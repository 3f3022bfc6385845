"""Assessments, attempts and their grades."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, JSONType, UTCDateTime, new_id


class Assessment(Base):
    __tablename__ = "assessments"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'superseded')", name="status_known"),
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
    # How many of the pool's items one attempt shows (None: all of them).
    attempt_item_count: Mapped[int | None] = mapped_column(Integer)
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    retake_cooldown_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # A version is superseded by at most one newer version.
    supersedes_id: Mapped[str | None] = mapped_column(ForeignKey("assessments.id"), unique=True)
    # Model, prompt version, temperature and seed of a generated draft; items dropped and why.
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    dropped_items: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    # The decision precision computed at publish (grading/precision.py Precision.to_json); None before that.
    precision: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Attempt(Base):
    __tablename__ = "attempts"
    # Numbered per learner and assessment: concurrent starts cannot exceed max_attempts.
    __table_args__ = (UniqueConstraint("assessment_id", "learner_id", "attempt_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id"), index=True)
    learner_id: Mapped[str] = mapped_column(ForeignKey("learners.id"), index=True)
    # Seeds the per-attempt order of items and options; recorded so the draw can be reproduced.
    seed: Mapped[int] = mapped_column(Integer)
    # The pool items this attempt drew, in the order drawn.
    item_ids: Mapped[list[str] | None] = mapped_column(JSONType)
    # The opaque ids this attempt shows for item_ids, position by position (None: older attempts show pool ids).
    item_aliases: Mapped[list[str] | None] = mapped_column(JSONType)
    attempt_number: Mapped[int | None] = mapped_column(Integer)
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
    criteria: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    mastery: Mapped[str | None] = mapped_column(String(100))
    # Items voided by amendments when this grade was computed (they count for nothing).
    voided_items: Mapped[list[str] | None] = mapped_column(JSONType)
    # The Rasch ability estimate when every scored item was calibrated (grading/ability.py); else None.
    ability: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    # The exact bytes of the first response, replayed for a repeated Idempotency-Key.
    response_body: Mapped[str] = mapped_column(Text)
    graded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def result(self) -> dict[str, Any]:
        """The stored result in the form grading.Grade.to_json() gives it."""
        return {
            "score": self.score, "max_score": self.max_score, "percent": self.percent, "passed": self.passed,
            "mastery": self.mastery, "items": self.item_scores, "criteria": self.criteria or [],
            **({"ability": self.ability} if self.ability is not None else {}),
        }

    def set_result(self, result: dict[str, Any]) -> None:
        """Store a grading.Grade.to_json() result."""
        self.score, self.max_score, self.percent = result["score"], result["max_score"], result["percent"]
        self.passed, self.mastery = result["passed"], result["mastery"]
        self.item_scores, self.criteria = result["items"], result["criteria"]
        self.ability = result.get("ability")


class Amendment(Base):
    """A recorded change to a published assessment's scoring (an item voided), and its effect."""

    __tablename__ = "amendments"
    __table_args__ = (
        UniqueConstraint("assessment_id", "item_id"),
        CheckConstraint("action IN ('void_item')", name="action_known"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(1000))
    regraded_attempts: Mapped[int] = mapped_column(Integer, default=0)
    newly_passed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class GradeRevision(Base):
    """A grade as it was before an amendment changed it."""

    __tablename__ = "grade_revisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    grade_id: Mapped[str] = mapped_column(ForeignKey("grades.id"), index=True)
    amendment_id: Mapped[str] = mapped_column(ForeignKey("amendments.id"))
    previous: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class GenerationJob(Base):
    """An LLM generation run; its state lives here so it survives a restart."""

    __tablename__ = "generation_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status_known"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(16), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)
    assessment_id: Mapped[str | None] = mapped_column(ForeignKey("assessments.id"))
    kept: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Refreshed while a worker runs the job; a stale heartbeat means the worker died (restart).
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    runs: Mapped[int] = mapped_column(Integer, default=0)


class AssessmentReview(Base):
    """A person's recorded review of a draft's items: who, when, the checklist, and which items it covered."""

    __tablename__ = "assessment_reviews"
    __table_args__ = (
        CheckConstraint("decision IN ('approved', 'changes_requested')", name="decision_known"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(32))
    checklist: Mapped[dict[str, Any]] = mapped_column(JSONType)
    notes: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the items as reviewed: an edit after the review makes it stale.
    items_hash: Mapped[str] = mapped_column(String(64))
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
