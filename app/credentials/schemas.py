"""Bodies of the credential endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CredentialStatus(BaseModel):
    revoked: bool
    suspended: bool


class CredentialOut(BaseModel):
    id: str
    attempt_id: str
    assessment_id: str
    learner_id: str
    issued_at: dt.datetime
    credential: dict[str, Any]
    jwt: str = Field(description="The credential secured as a compact JWS (VC-JOSE-COSE, typ vc+jwt).")
    ldp: dict[str, Any] | None = Field(
        default=None,
        description="The same credential with an embedded DataIntegrityProof (eddsa-rdfc-2022); "
        "null for credentials issued before Data Integrity proofs.",
    )
    status: CredentialStatus


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class StatusChanged(BaseModel):
    id: str
    status: CredentialStatus
