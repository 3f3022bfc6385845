"""API keys: creation (shown once), hashing, lookup, expiry, revocation, rotation; learners."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth.models import ApiKey, Learner
from app.errors import Conflict, NotFound, Unprocessable

KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its label, the role and, for learners, which learner."""

    key_id: str
    role: str
    learner_id: str | None
    label: str | None = None

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
    label: str | None = None, raw_key: str | None = None, expires_at: dt.datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key's hash; returns the row and the raw key (the only time it exists)."""
    if expires_at is not None and expires_at <= now:
        raise Unprocessable("expires_at must be in the future.", code="validation_error")
    raw_key = raw_key or new_raw_key()
    row = ApiKey(
        key_hash=hash_key(raw_key), role=role, learner_id=learner_id, label=label, created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, raw_key


def ensure_admin_key(session: Session, raw_key: str, now: dt.datetime) -> None:
    """Register a configured admin key once (idempotent; a revoked one stays revoked)."""
    existing = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw_key)))
    if existing is None:
        try:
            with session.begin_nested():
                create_key(session, role="admin", now=now, label="SKILLPROOF_ADMIN_API_KEY", raw_key=raw_key)
        except IntegrityError:
            pass  # another worker or replica starting at the same moment registered it first


class _Expiring(Protocol):
    """A key row, or the columns of one that say whether it still works."""

    @property
    def revoked_at(self) -> dt.datetime | None: ...

    @property
    def expires_at(self) -> dt.datetime | None: ...


def is_usable(row: _Expiring, now: dt.datetime) -> bool:
    """Neither revoked nor expired at `now`."""
    return row.revoked_at is None and (row.expires_at is None or now < row.expires_at)


# Every request asks this: built once, and only the columns needed (no ORM object to build).
_KEY_BY_HASH = select(
    ApiKey.id, ApiKey.role, ApiKey.learner_id, ApiKey.label, ApiKey.revoked_at, ApiKey.expires_at
).where(ApiKey.key_hash == bindparam("key_hash"))


def authenticate(session: Session, raw_key: str, now: dt.datetime) -> Principal | None:
    """The principal of a bearer key, or None if unknown, revoked or expired."""
    row = session.execute(_KEY_BY_HASH, {"key_hash": hash_key(raw_key)}).first()
    if row is None or not is_usable(row, now):
        return None
    return Principal(key_id=row.id, role=row.role, learner_id=row.learner_id, label=row.label)


def list_keys(
    session: Session, *, learner_id: str | None, include_revoked: bool, limit: int, offset: int
) -> Sequence[ApiKey]:
    """Keys, oldest first; revoked ones only when asked."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id).limit(limit).offset(offset)
    if learner_id is not None:
        query = query.where(ApiKey.learner_id == learner_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return session.scalars(query).all()


def get_key(session: Session, key_id: str) -> ApiKey:
    """One key by id, or 404."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound("No API key with this id.")
    return row


def revoke_key(session: Session, row: ApiKey, now: dt.datetime) -> ApiKey:
    """Revoke a key for good; it stops working at once."""
    if row.revoked_at is not None:
        raise Conflict("This API key is already revoked.", code="already_revoked")
    row.revoked_at = now
    session.flush()
    return row


def set_expiry(session: Session, row: ApiKey, expires_at: dt.datetime | None, now: dt.datetime) -> ApiKey:
    """Give a live key an expiry (or take it away); an expiry in the past is refused, revoke instead."""
    if not is_usable(row, now):
        raise Conflict("This API key is revoked or expired.", code="key_not_usable")
    if expires_at is not None and expires_at <= now:
        raise Unprocessable("expires_at must be in the future; to stop a key now, revoke it.")
    row.expires_at = expires_at
    session.flush()
    return row


def rotate_learner_key(session: Session, learner_id: str, now: dt.datetime) -> tuple[ApiKey, str, list[str]]:
    """Revoke every live key of a learner and issue one new key; returns it and the revoked key ids."""
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound("No such learner.")
    live = session.scalars(
        select(ApiKey).where(ApiKey.learner_id == learner_id, ApiKey.revoked_at.is_(None)).with_for_update()
    ).all()
    for row in live:
        row.revoked_at = now
    new_row, raw_key = create_key(session, role="learner", learner_id=learner_id, now=now, label=learner.name)
    return new_row, raw_key, [row.id for row in live]


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
