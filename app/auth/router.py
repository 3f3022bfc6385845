"""POST /v1/learners, the learner's own key; GET/POST /v1/api-keys (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.auth import did_binding, service
from app.auth.models import Learner
from app.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyExpiry,
    ApiKeyOut,
    ApiKeyRevoke,
    DidChallengeOut,
    DidRegistration,
    LearnerCreate,
    LearnerCreated,
    LearnerOut,
)
from app.deps import AdminOnly, AuditDep, ClockDep, CurrentLearner, SessionDep, SettingsDep
from app.errors import NotFound, Unprocessable, error_responses

router = APIRouter(prefix="/v1/learners", tags=["learners"])
api_keys_router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])


def learner_out(learner: Learner) -> LearnerOut:
    return LearnerOut(
        id=learner.id, name=learner.name, email=learner.email, did=learner.did,
        subject_id=learner.did or learner.subject_urn, created_at=learner.created_at,
    )


@router.post("", status_code=201, response_model=LearnerCreated, responses=error_responses(401, 403, 422))
def create_learner(
    body: LearnerCreate, _: AdminOnly, session: SessionDep, now: ClockDep, audit: AuditDep
) -> LearnerCreated:
    """Create a learner and their API key (the key is shown only in this response)."""
    learner, raw_key = service.create_learner(session, name=body.name, email=body.email, did=body.did, now=now)
    audit.record("learner.create", "learner", learner.id)
    return LearnerCreated(**learner_out(learner).model_dump(), api_key=raw_key)


@router.get("/me", response_model=LearnerOut, responses=error_responses(401, 403))
def who_am_i(principal: CurrentLearner, session: SessionDep) -> LearnerOut:
    """The calling learner."""
    learner = session.get(Learner, principal.learner_id)
    assert learner is not None
    return learner_out(learner)


@router.post("/me/api-key", status_code=201, response_model=ApiKeyCreated, responses=error_responses(401, 403))
def rotate_my_key(principal: CurrentLearner, session: SessionDep, now: ClockDep, audit: AuditDep) -> ApiKeyCreated:
    """Rotate the caller's API key: a new key (shown once) replaces every old one, which stop working at once."""
    assert principal.learner_id is not None
    row, raw_key, revoked = service.rotate_learner_key(session, principal.learner_id, now)
    audit.record("api_key.rotate", "api_key", row.id, details={"revoked_key_ids": revoked})
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), api_key=raw_key)


@router.post("/me/did-challenge", status_code=201, response_model=DidChallengeOut,
             responses=error_responses(401, 403))
def new_did_challenge(principal: CurrentLearner, session: SessionDep, now: ClockDep) -> DidChallengeOut:
    """A single-use challenge (5 minutes) to sign with the key of the DID you register."""
    assert principal.learner_id is not None
    row = did_binding.new_challenge(session, principal.learner_id, now)
    return DidChallengeOut(challenge=row.challenge, expires_at=row.expires_at)


@router.post("/me/did", response_model=LearnerOut, responses=error_responses(401, 403, 409, 422))
def register_my_did(
    body: DidRegistration, principal: CurrentLearner, session: SessionDep, settings: SettingsDep, now: ClockDep,
    audit: AuditDep,
) -> LearnerOut:
    """Register a did:key or did:jwk you control; credentials issued from now on name it as their subject."""
    assert principal.learner_id is not None
    learner = did_binding.register_did(session, principal.learner_id, body.did, body.proof, settings.issuer_did, now)
    audit.record("learner.register_did", "learner", learner.id, details={"did": body.did[:200]})
    return learner_out(learner)


@api_keys_router.get("", response_model=list[ApiKeyOut], responses=error_responses(401, 403, 422))
def list_api_keys(
    _: AdminOnly, session: SessionDep,
    learner_id: Annotated[str | None, Query(max_length=36)] = None,
    include_revoked: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> list[ApiKeyOut]:
    """API keys (metadata only, never the key or its hash), oldest first."""
    rows = service.list_keys(
        session, learner_id=learner_id, include_revoked=include_revoked, limit=limit, offset=offset
    )
    return [ApiKeyOut.model_validate(row) for row in rows]


@api_keys_router.post("", status_code=201, response_model=ApiKeyCreated,
                      responses=error_responses(401, 403, 404, 422))
def create_api_key(body: ApiKeyCreate, _: AdminOnly, session: SessionDep, now: ClockDep,
                   audit: AuditDep) -> ApiKeyCreated:
    """A new admin key, or another key for a learner; optionally expiring. The key is shown only here."""
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise Unprocessable("expires_at needs a timezone (e.g. 2027-01-01T00:00:00Z).")
    if body.role == "learner":
        if body.learner_id is None:
            raise Unprocessable("A learner key needs learner_id.")
        if session.get(Learner, body.learner_id) is None:
            raise NotFound("No such learner.")
    elif body.learner_id is not None:
        raise Unprocessable("An admin key has no learner_id.")
    row, raw_key = service.create_key(
        session, role=body.role, learner_id=body.learner_id, label=body.label, now=now, expires_at=body.expires_at
    )
    audit.record(
        "api_key.create", "api_key", row.id, reason=body.reason,
        details={"role": row.role, "label": row.label, "learner_id": row.learner_id,
                 "expires_at": row.expires_at.isoformat() if row.expires_at else None},
    )
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), api_key=raw_key)


@api_keys_router.patch("/{key_id}", response_model=ApiKeyOut, responses=error_responses(401, 403, 404, 409, 422))
def set_api_key_expiry(
    key_id: Annotated[str, Path(max_length=36)], body: ApiKeyExpiry, _: AdminOnly, session: SessionDep,
    now: ClockDep, audit: AuditDep,
) -> ApiKeyOut:
    """Set or clear a live key's expiry; from then on the key is refused (401)."""
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise Unprocessable("expires_at needs a timezone (e.g. 2027-01-01T00:00:00Z).")
    row = service.set_expiry(session, service.get_key(session, key_id), body.expires_at, now)
    audit.record("api_key.set_expiry", "api_key", row.id, reason=body.reason,
                 details={"expires_at": row.expires_at.isoformat() if row.expires_at else None})
    return ApiKeyOut.model_validate(row)


@api_keys_router.post(
    "/{key_id}/revoke", response_model=ApiKeyOut, responses=error_responses(401, 403, 404, 409, 422)
)
def revoke_api_key(
    key_id: Annotated[str, Path(max_length=36)], _: AdminOnly, session: SessionDep, now: ClockDep,
    audit: AuditDep, body: ApiKeyRevoke | None = None,
) -> ApiKeyOut:
    """Revoke a key for good: it is refused (401) from the next request on."""
    row = service.revoke_key(session, service.get_key(session, key_id), now)
    audit.record("api_key.revoke", "api_key", row.id, reason=body.reason if body else None)
    return ApiKeyOut.model_validate(row)
