"""Sharing a credential (one active share each; taken down for good) and assembling its public page."""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.assessments import freeze
from app.assessments.models import Assessment, Attempt, Grade
from app.auth.models import Learner
from app.credentials import badge_image, badge_png, baking, builder
from app.credentials import service as credentials_service
from app.credentials.models import Credential
from app.errors import Gone, NotFound
from app.pages import view
from app.pages.models import CredentialShare
from app.verification.service import Verifier

SHARE_ID_BYTES = 24  # secrets.token_urlsafe(24): 32 characters, 192 random bits
# What a share id can look like; anything else is answered 404 without a database read.
SHARE_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


class ShareNotFound(NotFound):
    """No share has this id (or it cannot be one)."""


class ShareGone(Gone):
    """The learner took this share down; it never comes back (a new share gets a new id)."""


@dataclass(frozen=True)
class ShareOptions:
    show_score: bool = False
    show_name: bool = True
    indexable: bool = False


def share_url(base_url: str, share_id: str) -> str:
    return f"{base_url}/c/{share_id}"


def active_share(session: Session, credential_id: str) -> CredentialShare | None:
    return session.scalars(
        select(CredentialShare).where(CredentialShare.active_credential_id == credential_id)
    ).first()


def share(
    session: Session, record: Credential, options: ShareOptions, now: dt.datetime
) -> tuple[CredentialShare, bool]:
    """(the credential's active share, created?): a new one, or the existing one with these options."""
    existing = active_share(session, record.id)
    if existing is None:
        created = CredentialShare(
            id=secrets.token_urlsafe(SHARE_ID_BYTES), credential_id=record.id, active_credential_id=record.id,
            show_score=options.show_score, show_name=options.show_name, indexable=options.indexable,
            created_at=now, updated_at=now, taken_down_at=None,
        )
        try:
            with session.begin_nested():  # a concurrent share of the same credential trips the unique column
                session.add(created)
                session.flush()
            return created, True
        except IntegrityError:
            existing = active_share(session, record.id)
            if existing is None:
                raise
    existing.show_score, existing.show_name, existing.indexable = (
        options.show_score, options.show_name, options.indexable
    )
    existing.updated_at = now
    session.flush()
    return existing, False


def take_down(session: Session, record: Credential, now: dt.datetime) -> CredentialShare:
    """Take the credential's active share down at once; 404 `not_shared` if it has none."""
    existing = active_share(session, record.id)
    if existing is None:
        raise NotFound("This credential has no active share.", code="not_shared")
    existing.taken_down_at = now
    existing.active_credential_id = None
    session.flush()
    return existing


def shared(session: Session, share_id: str) -> tuple[CredentialShare, Credential]:
    """The share and its credential; ShareNotFound for an unknown id, ShareGone for one taken down."""
    if not SHARE_ID.fullmatch(share_id):
        raise ShareNotFound("No such share.")
    row = session.get(CredentialShare, share_id)
    if row is None:
        raise ShareNotFound("No such share.")
    if row.taken_down_at is not None:
        raise ShareGone("The learner has taken this page down.")
    record = session.get(Credential, row.credential_id)
    if record is None:  # the foreign key makes this impossible; never a 500 for it all the same
        raise ShareNotFound("No such share.")
    return row, record


def _facts(
    session: Session, record: Credential, base_url: str, show_score: bool
) -> view.AssessmentFacts | None:
    """How a graded credential was earned, from the stored assessment, attempt and grade (None: an award)."""
    if record.attempt_id is None or record.assessment_id is None:
        return None
    assessment = session.get(Assessment, record.assessment_id)
    attempt = session.get(Attempt, record.attempt_id)
    grade = session.scalars(select(Grade).where(Grade.attempt_id == record.attempt_id)).first()
    if assessment is None or attempt is None or grade is None:
        return None
    presented = freeze.attempt_items(assessment.items, attempt.item_ids)
    shown = len(presented)
    answered = credentials_service.items_answered(grade, presented)
    taken = int((grade.graded_at - attempt.started_at).total_seconds())
    return view.AssessmentFacts(
        items_shown=shown,
        items_answered=min(answered, shown),
        time_limit_seconds=assessment.time_limit_seconds,
        time_taken_seconds=max(taken, 0),
        pass_percent=assessment.pass_percent,
        score=grade.score if show_score else None,
        max_score=grade.max_score if show_score else None,
        attempt_number=attempt.attempt_number,
        max_attempts=assessment.max_attempts,
        item_source=_item_source(record, assessment),
        content_hash=assessment.content_hash or "",
        assessment_title=assessment.title,
        evidence_url=builder.evidence_id(base_url, assessment.id),
        level_descriptor=str((assessment.rubric.get("blueprint") or {}).get("level_descriptor") or ""),
    )


def _item_source(record: Credential, assessment: Assessment) -> str:
    """Where the items came from, as the signed credential states it (older credentials: from the assessment)."""
    evidence = _mapping(record.document).get("evidence")
    stated = _mapping(evidence[0]).get("itemSource") if isinstance(evidence, list) and evidence else None
    if isinstance(stated, str) and stated in builder.ITEM_SOURCES:
        return builder.ITEM_SOURCES[stated]
    return builder.item_source(assessment.generator, (assessment.provenance or {}).get("bank"))


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def badge_svg(record: Credential) -> str:
    """The achievement's SVG badge for a credential, as its skill, level and issuer name say."""
    document = record.document
    skill_id, skill_name, level = view.skill_and_level(document)
    issuer_name = str(_mapping(document.get("issuer")).get("name") or "")
    return badge_image.achievement_svg(skill_id=skill_id, skill_name=skill_name, level=level, issuer_name=issuer_name)


def baked_badge(record: Credential, kind: Literal["svg", "png"]) -> bytes:
    """The badge with the credential baked in (OB 3.0 §5.3): its vc+jwt, or its Data Integrity JSON if it has none."""
    credential: str | dict[str, Any] = record.jwt if record.jwt else record.ldp or record.document
    svg = badge_svg(record)
    if kind == "svg":
        return baking.bake_svg(svg, credential).encode("utf-8")
    return baking.bake_png(_png_of(svg), credential)


@functools.lru_cache(maxsize=256)
def _png_of(svg: str) -> bytes:
    # One image per achievement and issuer name, whoever holds it: rendered once per process.
    return badge_png.png_of(svg)


def page(
    session: Session, row: CredentialShare, record: Credential, *, base_url: str, verifier: Verifier,
    now: dt.datetime,
) -> view.SharePage:
    """The share page of a live share: the credential as signed, the live verdict, what the holder chose to show."""
    document = record.document
    url = share_url(base_url, row.id)
    result = verifier.verify(record.jwt if record.jwt else record.ldp, now=now)
    status = view.live_status(result.verified, [problem.code for problem in result.errors])
    achievement = view.achievement_of(document)
    _, skill_name, level = view.skill_and_level(document)
    issuer = _mapping(document.get("issuer"))
    issuer_name = str(issuer.get("name") or "")
    issued = view.parse_timestamp(document.get("validFrom"))
    expires = view.parse_timestamp(document.get("validUntil"))
    learner = session.get(Learner, record.learner_id)
    holder = learner.name if (row.show_name and learner is not None) else None
    name = str(achievement.get("name") or skill_name)
    criteria = _mapping(achievement.get("criteria"))
    evidence = document.get("evidence")
    first_evidence = _mapping(evidence[0] if isinstance(evidence, list) and evidence else None)
    badge = badge_svg(record)
    downloads = {"jwt": f"{url}/credential.jwt", "badge_svg": f"{url}/badge.svg", "badge_png": f"{url}/badge.png"}
    if record.ldp is not None:
        downloads["json"] = f"{url}/credential.json"
    return view.SharePage(
        page_url=url,
        title=f"{holder}: {name}" if holder else name,
        achievement_name=name,
        skill_name=skill_name,
        level=level,
        description=str(achievement.get("description") or ""),
        criteria=str(criteria.get("narrative") or ""),
        holder_name=holder,
        mastery=view.mastery_of(document),
        score_percent=view.score_of(document) if row.show_score else None,
        issued=issued,
        expires=expires,
        issuer_name=issuer_name,
        issuer_did=str(issuer.get("id") or ""),
        issuer_url=str(issuer.get("url") or ""),
        credential_id=str(document.get("id") or record.id),
        kind=record.kind,
        evidence_narrative=str(first_evidence.get("narrative") or ""),
        status=status,
        checked_at=now,
        facts=_facts(session, record, base_url, row.show_score) if record.kind == "graded" else None,
        badge_data_uri=view.svg_data_uri(badge),
        qr_svg=view.qr_svg(url),
        linkedin_url=view.linkedin_url(
            name=name, organization=issuer_name, issued=issued, expires=expires, cert_url=url,
            cert_id=str(document.get("id") or record.id),
        ),
        downloads=downloads,
        jwt=record.jwt,
    )
