"""Request and response bodies of the learner endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Literal

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


# Printable text without control characters (they have no place in a label and break some databases).
LABEL_PATTERN = r"^[^\x00-\x1f\x7f]*$"


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200, pattern=LABEL_PATTERN)
    role: Literal["admin", "learner"] = "admin"
    learner_id: str | None = Field(default=None, max_length=36, description="required for a learner key")
    expires_at: dt.datetime | None = Field(default=None, description="timezone-aware; after it the key is refused")
    reason: str | None = Field(default=None, max_length=1000, pattern=LABEL_PATTERN)


class ApiKeyExpiry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_at: dt.datetime | None = Field(description="timezone-aware and in the future; null: never expires")
    reason: str | None = Field(default=None, max_length=1000, pattern=LABEL_PATTERN)


class ApiKeyRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000, pattern=LABEL_PATTERN)


class ApiKeyOut(BaseModel):
    """An API key's metadata; never the key or its hash."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    role: str
    label: str | None
    learner_id: str | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    api_key: str = Field(description="Shown once; only its hash is stored.")


class DidChallengeOut(BaseModel):
    challenge: str = Field(description="Sign {\"challenge\": <this>, \"aud\": <issuer DID>} with the DID's key.")
    expires_at: dt.datetime


class DidRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    did: str = Field(max_length=2000, pattern=DID_PATTERN, description="did:key or did:jwk")
    proof: str = Field(
        max_length=8192,
        description="Compact JWS over {\"challenge\", \"aud\": issuer DID}, kid = a verification method of the DID",
    )
