"""A learner registers a DID (did:key, did:jwk) by signing a server challenge with it (issue 7, must-have 4)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.auth.models import DidChallenge, Learner
from app.dids import documents, proof
from app.errors import Conflict, NotFound, Unprocessable

CHALLENGE_LIFETIME: Final = dt.timedelta(minutes=5)
METHODS: Final = ("did:key:", "did:jwk:")


def new_challenge(session: Session, learner_id: str, now: dt.datetime) -> DidChallenge:
    """A fresh random challenge (256 bits) for this learner, valid for 5 minutes, usable once."""
    row = DidChallenge(
        learner_id=learner_id, challenge=secrets.token_urlsafe(32), created_at=now, expires_at=now + CHALLENGE_LIFETIME
    )
    session.add(row)
    session.flush()
    return row


def register_did(
    session: Session, learner_id: str, did: str, signed: str, audience: str, now: dt.datetime
) -> Learner:
    """Check the proof and the challenge it signs, use the challenge up, and set the learner's DID."""
    if not did.startswith(METHODS):
        raise Unprocessable("Only did:key and did:jwk can be registered.", code="unsupported_did_method")
    try:
        document = documents.resolve_local(did)
    except documents.DidError as exc:
        raise Unprocessable(f"The DID cannot be used: {exc}", code="invalid_did") from None
    try:
        challenge = proof.verify_control(did, signed, document, audience)
    except proof.ProofError as exc:
        raise Unprocessable(str(exc), code="invalid_proof") from None
    row = session.scalar(
        select(DidChallenge).where(DidChallenge.challenge == challenge, DidChallenge.learner_id == learner_id)
    )
    if row is None:
        raise Unprocessable("The signed challenge was not issued to you.", code="invalid_challenge")
    if row.used_at is not None:
        raise Conflict("The challenge has been used already; ask for a new one.", code="challenge_used")
    if row.expires_at <= now:
        raise Unprocessable("The challenge has expired; ask for a new one.", code="challenge_expired")
    # Used up by a conditional UPDATE, so two requests racing with one challenge cannot both register.
    used = session.execute(
        update(DidChallenge).where(DidChallenge.id == row.id, DidChallenge.used_at.is_(None)).values(used_at=now)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The challenge has been used already; ask for a new one.", code="challenge_used")
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound("No such learner.")
    learner.did = did
    session.flush()
    return learner
