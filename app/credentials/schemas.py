"""Bodies of the credential endpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.credentials.builder import VC_CONTEXT_V2


class CredentialStatus(BaseModel):
    revoked: bool
    suspended: bool


class CredentialOut(BaseModel):
    id: str
    kind: Literal["graded", "award"] = Field(
        description="`graded`: earned by passing an attempt; `award`: a manual award by an admin "
        "(POST /credentials/issue), with no attempt or assessment."
    )
    attempt_id: str | None = Field(description="The passed attempt; null for a manual award.")
    assessment_id: str | None = Field(description="The attempt's assessment; null for a manual award.")
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


# The W3C VC API issuer (POST /credentials/issue): what a manual award takes. Everything else in the credential
# (id, dates, the Achievement itself, evidence, status) is the issuer's to set, so other members are refused.
AWARD_TYPES = frozenset({"VerifiableCredential", "OpenBadgeCredential", "AchievementCredential"})


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


class AwardAchievementIn(BaseModel):
    """The achievement to award, named by its id; the issuer builds the Achievement (other members are ignored)."""

    id: str = Field(max_length=2000, description="An achievement id as credentials carry it: "
                    "`<public URL>/v1/achievements/{skill}/{level}`, for a skill and level of GET /v1/skills.")


class AwardSubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=2000, description="The learner's `subject_id` (GET /v1/learners/...): their "
                    "registered DID, or the `urn:uuid:` Skillproof gave them.")
    type: str | list[str] | None = Field(default=None, description="If given, it includes AchievementSubject.")
    achievement: AwardAchievementIn

    @field_validator("type")
    @classmethod
    def _achievement_subject(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None and "AchievementSubject" not in _as_list(value):
            raise ValueError("credentialSubject.type must include AchievementSubject")
        return value


class AwardIssuerIn(BaseModel):
    id: str = Field(max_length=2000)


class AwardCredentialIn(BaseModel):
    """A partial credential: who gets which achievement; @context, type and issuer are optional checks."""

    model_config = ConfigDict(extra="forbid")

    context: list[Any] | str | None = Field(default=None, alias="@context",
                                            description=f"If given, it starts with {VC_CONTEXT_V2}.")
    type: str | list[str] | None = Field(default=None, description="If given, it includes VerifiableCredential and "
                                         "names nothing but " + ", ".join(sorted(AWARD_TYPES)) + ".")
    issuer: str | AwardIssuerIn | None = Field(default=None, description="If given, the issuer DID of this service.")
    credentialSubject: AwardSubjectIn

    @field_validator("context")
    @classmethod
    def _vc_v2_first(cls, value: list[Any] | str | None) -> list[Any] | str | None:
        first = value if isinstance(value, str) else value[0] if value else None
        if value is not None and first != VC_CONTEXT_V2:
            raise ValueError(f"@context must start with {VC_CONTEXT_V2}")
        return value

    @field_validator("type")
    @classmethod
    def _known_types(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is not None:
            types = _as_list(value)
            if "VerifiableCredential" not in types or not set(types) <= AWARD_TYPES:
                raise ValueError("type must include VerifiableCredential and name nothing but "
                                 + ", ".join(sorted(AWARD_TYPES)))
        return value


class AwardStatusOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["BitstringStatusListEntry"]


class IssueOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credentialStatus: AwardStatusOption | None = Field(
        default=None, description="The only kind given: one BitstringStatusListEntry (revocation and suspension)."
    )


class IssueRequest(BaseModel):
    """POST /credentials/issue (W3C VC API IssueCredentialRequest); parsed by hand, so bad input is a 400."""

    model_config = ConfigDict(extra="forbid")

    credential: AwardCredentialIn
    options: IssueOptions | None = None


class IssueResponse(BaseModel):
    verifiableCredential: dict[str, Any] = Field(
        description="The issued credential with its DataIntegrityProof (eddsa-rdfc-2022); GET the Location for "
        "the record, its vc+jwt form and status."
    )
