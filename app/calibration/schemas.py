"""Request and response bodies of the item-bank calibration endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class OptionStatisticsOut(BaseModel):
    option_id: str
    text: str
    key: bool
    chosen: float = Field(description="share of respondents who chose the option")
    upper: float | None = Field(description="share of the upper 27% by rest score who chose it")
    lower: float | None = Field(description="share of the lower 27% by rest score who chose it")
    discrimination: float | None = Field(description="point-biserial of choosing it with the rest score")


class BankItemStatisticsOut(BaseModel):
    item_id: str = Field(description="the item's id: a bank item keeps it in every draft")
    skill: str
    level: str
    type: str
    responses: int = Field(description="first attempts that showed it, one per learner")
    facility: float | None = Field(description="share right (full marks)")
    mean_score: float | None = Field(description="mean share of the item's points earned")
    discrimination: float | None = Field(description="corrected point-biserial: right/wrong vs the rest score")
    omitted: float | None = Field(description="choice items: share who left it unanswered")
    options: list[OptionStatisticsOut] = Field(description="choice items: every option, key or distractor")


class CalibrationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: str
    skill: str
    level: str
    difficulty: float = Field(description="Rasch difficulty in logits; the mean of a skill and level's is 0")
    se: float
    n: int = Field(description="first-attempt responses fitted")
    scale: str
    fitted_at: dt.datetime
    model: str


class CalibrationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skill: str | None = Field(default=None, max_length=100)
    level: str | None = Field(default=None, max_length=100)


class CalibrationGroupOut(BaseModel):
    skill: str
    level: str
    items: int = Field(description="items with first-attempt responses")
    quarantined: list[str] = Field(description="items quarantined (now or before) at this run")
    calibrated: int = Field(description="items given a difficulty")
    persons: int
    ability_sd: float | None = Field(description="spread of the candidates' abilities, in logits")
    scale: str | None
    error: str | None = Field(description="why no fit was made, if none was")


class QuarantinedItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: str
    skill: str
    level: str
    responses: int
    reasons: list[str]
    figures: dict[str, Any] = Field(description="the item's statistics when it was last reviewed")
    quarantined_at: dt.datetime | None


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=1000, description="what the review found")


class ReleasedItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    item_id: str
    quarantined: bool
    released_at: dt.datetime | None
    release_note: str | None
