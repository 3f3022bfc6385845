"""Request and response bodies of assessments and attempts."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SerializerFunctionWrapHandler, model_serializer


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssessmentCreate(Strict):
    skill: str = Field(min_length=1, max_length=100)
    level: str = Field(min_length=1, max_length=100)
    item_count: int = Field(ge=1, le=100)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1, description="Same seed, same draft.")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    time_limit_seconds: int | None = Field(default=None, ge=60, le=86400)
    pass_percent: float = Field(default=70, ge=0, le=100)
    credential_valid_days: int | None = Field(default=None, ge=1, le=3650)
    generator: Literal["bank", "llm"] | None = None


class Skill(BaseModel):
    id: str
    name: str
    description: str
    levels: list[str]


class OptionOut(BaseModel):
    id: str
    text: str


class ItemOut(BaseModel):
    """An item as a learner sees it."""

    id: str
    type: str
    prompt: str
    options: list[OptionOut] | None = None
    points: int

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]  # keeps field schema
        # Items keep exactly the fields they have, so the admin view hashes to content_hash.
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None or key in ("answer",)}


class AdminItemOut(ItemOut):
    """An item with its key, explanation and (numeric) tolerance."""

    answer: JsonValue
    explanation: str
    tolerance: dict[str, float] | None = None


class AssessmentOut(BaseModel):
    """An assessment as a learner sees it (no items until an attempt starts)."""

    id: str
    skill: str
    level: str
    title: str
    status: str
    item_count: int
    time_limit_seconds: int
    pass_percent: float
    content_hash: str | None
    published_at: dt.datetime | None


class AdminAssessmentOut(AssessmentOut):
    generator: str
    seed: int
    created_at: dt.datetime
    items: list[AdminItemOut]
    rubric: dict[str, Any]


class Response(Strict):
    item_id: str = Field(max_length=200)
    answer: JsonValue


class SubmitRequest(Strict):
    responses: list[Response] = Field(max_length=500)


class ItemScoreOut(BaseModel):
    item_id: str
    score: float
    max_score: float


class GradeOut(BaseModel):
    attempt_id: str
    status: Literal["graded"]
    score: float
    max_score: float
    percent: float
    passed: bool
    items: list[ItemScoreOut]
    credential_id: str | None
    graded_at: dt.datetime


class AttemptOut(BaseModel):
    id: str
    assessment_id: str
    learner_id: str
    status: Literal["in_progress", "graded", "expired"]
    started_at: dt.datetime
    expires_at: dt.datetime
    items: list[ItemOut]
    grade: GradeOut | None = None
