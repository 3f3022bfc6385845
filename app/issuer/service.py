"""Fix the issuer identity at first start, keep it on every later start, change it only on purpose."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, canonical_public_url, did_web
from app.issuer.models import IssuerIdentity

SET_URL_COMMAND = "skillproof issuer set-url"


class IdentityMismatch(Exception):
    """SKILLPROOF_PUBLIC_URL names another identity than the one this issuer has signed under."""


@dataclass(frozen=True)
class Identity:
    """The public URL and DID in use, and the ones used before (their credentials still name them)."""

    public_url: str
    did: str
    former: tuple[tuple[str, str], ...] = ()

    @property
    def former_dids(self) -> frozenset[str]:
        """DIDs of former identities (not the current one)."""
        return frozenset(did for _, did in self.former) - {self.did}

    @property
    def former_urls(self) -> tuple[str, ...]:
        """Public URLs of former identities."""
        return tuple(url for url, _ in self.former)


def _current(session: Session) -> IssuerIdentity | None:
    return session.scalars(select(IssuerIdentity).where(IssuerIdentity.current.is_(True))).one_or_none()


def read(session: Session) -> Identity | None:
    """The stored identity with its former ones; None before the first start."""
    rows = session.scalars(select(IssuerIdentity).order_by(IssuerIdentity.id)).all()
    current = next((row for row in rows if row.current), None)
    if current is None:
        return None
    former = tuple((row.public_url, row.did) for row in rows if not row.current)
    return Identity(current.public_url, current.did, former)


def adopt(session: Session, settings: Settings, now: dt.datetime) -> Identity:
    """The identity to serve under: the stored one, or (first start) the configured one, stored now.

    An explicit SKILLPROOF_PUBLIC_URL that differs from the stored identity raises IdentityMismatch; without
    one, the stored identity wins whatever the port.
    """
    stored = read(session)
    if stored is None:
        session.add(IssuerIdentity(public_url=settings.base_url, did=settings.issuer_did, current=True,
                                   adopted_at=now))
        session.flush()
        return Identity(settings.base_url, settings.issuer_did)
    if settings.public_url and settings.public_url != stored.public_url:
        raise IdentityMismatch(
            f"SKILLPROOF_PUBLIC_URL is {settings.public_url} but this issuer signs as {stored.public_url} "
            f"({stored.did}); to change it run: {SET_URL_COMMAND} {settings.public_url}"
        )
    return stored


def adopt_once(sessions: sessionmaker[Session], settings: Settings, now: dt.datetime) -> Identity:
    """adopt() in its own transaction; a replica that loses the first-start race reads the winner's row."""
    for attempt in range(2):
        try:
            with sessions.begin() as session:
                return adopt(session, settings, now)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def set_url(session: Session, public_url: str, now: dt.datetime) -> tuple[Identity | None, Identity]:
    """Make `public_url` the identity; the former one is kept (its credentials keep naming it)."""
    url = canonical_public_url(public_url)
    before = read(session)
    current = _current(session)
    if current is not None and current.public_url == url:
        return before, before or Identity(url, did_web(url))
    if current is not None:
        current.current = None
        current.retired_at = now
        session.flush()  # the unique `current` column must be free before another row takes it
    row = session.scalars(select(IssuerIdentity).where(IssuerIdentity.public_url == url)).one_or_none()
    if row is None:
        session.add(IssuerIdentity(public_url=url, did=did_web(url), current=True, adopted_at=now))
    else:  # back to an identity used before
        row.current, row.adopted_at, row.retired_at = True, now, None
    session.flush()
    after = read(session)
    assert after is not None
    return before, after
