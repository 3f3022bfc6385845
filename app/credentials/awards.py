"""Manual awards (W3C VC API POST /credentials/issue): an admin awards a known achievement to a known learner.

Everything is checked before anything is written: a refused request reserves no status slot and leaves no row.
The credential is then recorded and signed by service.record_and_sign, the path graded credentials take too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import strict_json
from app.auth.models import Learner
from app.auth.service import Principal
from app.config import Settings
from app.credentials import builder, service
from app.credentials.models import Credential
from app.credentials.schemas import IssueRequest
from app.errors import BadRequest, validation_detail
from app.keys.keystore import FileKeyStore


class Skill(Protocol):
    """What an award needs of a skill the generator knows (GET /v1/skills)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def levels(self) -> Sequence[str]: ...


def parse_request(raw: bytes) -> IssueRequest:
    """The request body, or 400 `invalid_json` / `validation_error` (the VC API answers bad input with 400)."""
    try:
        body = strict_json.loads(raw)
    except strict_json.StrictJsonError as exc:
        raise BadRequest(f"The body is not acceptable JSON: {exc}.", code="invalid_json") from None
    except strict_json.JsonSyntaxError:
        raise BadRequest("The body is not JSON.", code="invalid_json") from None
    try:
        return IssueRequest.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(validation_detail(exc.errors()), code="validation_error") from None


def award(
    session: Session,
    *,
    settings: Settings,
    keystore: FileKeyStore,
    skills: Mapping[str, Skill],
    request: IssueRequest,
    actor: Principal,
    now: dt.datetime,
) -> Credential:
    """Check issuer, achievement and learner (400 otherwise), then issue the credential in both forms."""
    credential = request.credential
    issuer = credential.issuer if isinstance(credential.issuer, str | None) else credential.issuer.id
    if issuer is not None and issuer != settings.issuer_did:
        raise BadRequest(f"This service issues only as {settings.issuer_did}.", code="issuer_mismatch")
    skill, level = _achievement(settings.base_url, skills, credential.credentialSubject.achievement.id)
    learner = _learner(session, credential.credentialSubject.id)
    record = service.record_and_sign(
        session, settings=settings, keystore=keystore, learner=learner, now=now,
        achievement=builder.Achievement(
            skill_id=skill.id, skill_name=skill.name, skill_description=skill.description, level=level,
            pass_percent=None,
        ),
        evidence=builder.AwardEvidence(awarded_by=awarded_by(actor)),
        score_percent=None,
    )
    if record.ldp is None:  # our own document failed JSON-LD safe mode: a bug, and the response needs the ldp form
        raise RuntimeError(f"award {record.id}: no Data Integrity proof could be made; nothing is issued")
    return record


def awarded_by(actor: Principal) -> str:
    """The admin as the evidence names them: the key's label and id (never the key)."""
    return f"{actor.label} (API key {actor.key_id})" if actor.label else f"API key {actor.key_id}"


def _achievement(base_url: str, skills: Mapping[str, Skill], achievement_id: str) -> tuple[Skill, str]:
    parsed = builder.parse_achievement_id(base_url, achievement_id)
    skill = skills.get(parsed[0]) if parsed else None
    if parsed is None or skill is None or parsed[1] not in skill.levels:
        raise BadRequest(
            f"credentialSubject.achievement.id names no achievement of this issuer: use "
            f"{builder.achievement_id(base_url, '{skill}', '{level}')} with a skill and level of GET /v1/skills.",
            code="unknown_achievement",
        )
    return skill, parsed[1]


def _learner(session: Session, subject_id: str) -> Learner:
    """The learner whose credentials name them `subject_id` (their DID, else their subject URN)."""
    candidates = session.scalars(
        select(Learner).where(or_(Learner.did == subject_id, Learner.subject_urn == subject_id)).limit(3)
    ).all()
    named = [learner for learner in candidates if (learner.did or learner.subject_urn) == subject_id]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise BadRequest("More than one learner registered this DID; it does not name one learner.",
                         code="unknown_learner")
    if candidates:
        raise BadRequest("That learner registered a DID, and their credentials name them by it: use their "
                         "subject_id.", code="unknown_learner")
    raise BadRequest("credentialSubject.id names no learner: use the learner's subject_id (their registered DID, "
                     "or the urn:uuid Skillproof gave them).", code="unknown_learner")
