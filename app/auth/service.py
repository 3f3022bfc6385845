"""API keys: creation (shown once), hashing, lookup; learners."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import ApiKey, Learner

KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the role and, for learners, which learner."""

    key_id: str
    role: str
    learner_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_key(raw_key: str) -> str:
    """SHA-256 hex of an API key (keys are >= 128 random bits, so no slow hash is needed)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def new_raw_key() -> str:
    """A fresh API key with 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(
    session: Session, *, role: str, now: dt.datetime, learner_id: str | None = None,
    label: str | None = None, raw_key: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key's hash; returns the row and the raw key (the only time it exists)."""
    raw_key = raw_key or new_raw_key()
    row = ApiKey(
        key_hash=hash_key(raw_key), prefix=raw_key[:8], role=role, learner_id=learner_id,
        label=label, created_at=now,
    )
    session.add(row)
    session.flush()
    return row, raw_key


def ensure_admin_key(session: Session, raw_key: str, now: dt.datetime) -> None:
    """Register a configured admin key once (idempotent)."""
    existing = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw_key)))
    if existing is None:
        create_key(session, role="admin", now=now, label="SKILLPROOF_ADMIN_API_KEY", raw_key=raw_key)


def authenticate(session: Session, raw_key: str) -> Principal | None:
    """The principal of a bearer key, or None if unknown or revoked."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw_key)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(key_id=row.id, role=row.role, learner_id=row.learner_id)


def create_learner(
    session: Session, *, name: str, email: str | None, did: str | None, now: dt.datetime
) -> tuple[Learner, str]:
    """A learner and their first API key."""
    learner = Learner(
        name=name, email=email, did=did, subject_urn=f"urn:uuid:{uuid.uuid4()}", created_at=now
    )
    session.add(learner)
    session.flush()
    _, raw_key = create_key(session, role="learner", learner_id=learner.id, now=now, label=name)
    return learner, raw_key
