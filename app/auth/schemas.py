"""Request and response bodies of the learner endpoints."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

# DID syntax (DID Core §3.1): did:<method>:<method-specific-id>.
DID_PATTERN = r"^did:[a-z0-9]+:(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2}|:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})$"


class LearnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    did: str | None = Field(default=None, max_length=2000, pattern=DID_PATTERN)


class LearnerOut(BaseModel):
    id: str
    name: str
    email: str | None
    did: str | None
    subject_id: str
    created_at: dt.datetime


class LearnerCreated(LearnerOut):
    api_key: str = Field(description="Shown once; only its hash is stored.")
