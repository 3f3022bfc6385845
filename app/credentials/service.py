"""Issuing credentials (for passing grades and manual awards), reading them, and changing their status."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.assessments import blueprints, freeze, review
from app.assessments.models import Assessment, Attempt, Grade
from app.assessments.validation import PERFORMANCE_TYPES
from app.auth.models import Learner
from app.auth.service import Principal
from app.config import Settings
from app.credentials import builder, canonical_pool, data_integrity, identity, jose
from app.credentials.models import Credential
from app.errors import Conflict, NotFound
from app.keys.keystore import FileKeyStore
from app.status_lists import service as status_lists

logger = logging.getLogger("skillproof.credentials")


def issuer_of(settings: Settings) -> builder.Issuer:
    return builder.Issuer(did=settings.issuer_did, name=settings.issuer_name, url=settings.base_url)


_STORE_SIGNED = update(Credential).where(Credential.id == bindparam("credential_id")).values(
    document=bindparam("document"), jwt=bindparam("jwt"), kid=bindparam("kid"), ldp=bindparam("ldp")
)


def items_answered(grade: Grade, presented: list[dict[str, Any]]) -> int:
    """How many of the attempt's items the learner gave an answer to."""
    ids = {item["id"] for item in presented}
    return len({
        response.get("item_id") for response in grade.responses
        if response.get("answer") is not None and response.get("item_id") in ids
    })


def performance_tasks(grade: Grade, presented: list[dict[str, Any]]) -> dict[str, Any]:
    """The Evidence fields of the performance tasks among the graded items (none: nothing to say)."""
    kinds = {item["id"]: item["type"] for item in presented}
    entries = [entry for entry in grade.item_scores
               if kinds.get(entry["item_id"]) in PERFORMANCE_TYPES and entry["max_score"]]  # pretest items: 0
    maximum = sum(entry["max_score"] for entry in entries)
    if not entries or not maximum or not grade.max_score:
        return {}
    return {
        "performance_tasks": len(entries),
        "performance_task_share": round(maximum / grade.max_score, 4),
        "performance_task_percent": round(sum(entry["score"] for entry in entries) / maximum * 100, 2),
    }
def scored_count(presented: list[dict[str, Any]]) -> int:
    """The attempt's scored items (pretest items ride along unscored)."""
    return sum(1 for item in presented if not item.get("pretest"))


def calibration_status(presented: list[dict[str, Any]]) -> str:
    """A builder.CALIBRATION key: how many of the attempt's scored items carried a frozen Rasch difficulty."""
    scored = [item for item in presented if not item.get("pretest")]
    calibrated = sum(1 for item in scored if item.get("calibration"))
    if scored and calibrated == len(scored):
        return "calibrated"
    return "partial" if calibrated else "uncalibrated"


def issue(
    session: Session,
    *,
    settings: Settings,
    keystore: FileKeyStore,
    assessment: Assessment,
    attempt: Attempt,
    learner: Learner,
    grade: Grade,
    now: dt.datetime,
) -> Credential:
    """The credential of a passing grade, recorded and signed (record_and_sign)."""
    valid_days = assessment.rubric.get("credential_valid_days")
    blueprint = assessment.rubric.get("blueprint")
    presented = freeze.attempt_items(assessment.items, attempt.item_ids)
    return record_and_sign(
        session, settings=settings, keystore=keystore, learner=learner, now=now,
        achievement=builder.Achievement(
            skill_id=assessment.skill,
            skill_name=assessment.skill_name,
            skill_description=assessment.skill_description,
            level=assessment.level,
            pass_percent=assessment.pass_percent,
            mastery_bands=tuple(
                builder.MasteryBand(name=band["name"], min_percent=band["min_percent"])
                for band in assessment.rubric.get("mastery_bands") or []
            ),
            level_descriptor=blueprint["level_descriptor"] if blueprint else "",
            competencies=competency_lines(blueprint, scored_count(presented)) if blueprint else (),
        ),
        evidence=builder.Evidence(
            assessment_id=assessment.id,
            assessment_title=assessment.title,
            content_hash=assessment.content_hash or "",
            attempt_id=attempt.id,
            item_count=len(presented),
            item_source=builder.item_source_code(
                assessment.generator, (assessment.provenance or {}).get("bank"),
                reviewed=review.reviewed(session, assessment),
            ),
            attempt_number=attempt.attempt_number,
            max_attempts=assessment.max_attempts,
            retake_cooldown_seconds=assessment.retake_cooldown_seconds,
            items_answered=items_answered(grade, presented),
            time_limit_seconds=assessment.time_limit_seconds,
            **performance_tasks(grade, presented),
            calibration=calibration_status(presented),
            precision=assessment.precision,
        ),
        score_percent=grade.percent,
        mastery=grade.mastery,
        ability=builder.AbilityEstimate(
            estimate=grade.ability["estimate"], standard_error=grade.ability["standard_error"],
            scale=grade.ability["scale"],
        ) if grade.ability else None,
        valid_until=now + dt.timedelta(days=valid_days) if valid_days else None,
    )


def competency_lines(blueprint: dict[str, Any], count: int) -> tuple[builder.CompetencyLine, ...]:
    """A frozen blueprint's competencies with their items in an attempt of `count` items."""
    planned = blueprints.plan(blueprint, count)
    return tuple(
        builder.CompetencyLine(criterion=c["criterion"], weight=c["weight"], items=planned[c["criterion"]])
        for c in blueprint["competencies"]
    )


def record_and_sign(
    session: Session,
    *,
    settings: Settings,
    keystore: FileKeyStore,
    learner: Learner,
    now: dt.datetime,
    achievement: builder.Achievement,
    evidence: builder.Evidence | builder.AwardEvidence,
    score_percent: float | None,
    mastery: str | None = None,
    valid_until: dt.datetime | None = None,
    ability: builder.AbilityEstimate | None = None,
) -> Credential:
    """Record the unsigned credential with its status entry, then sign it (vc+jwt and ldp); one transaction.

    The one path of every credential: graded (Evidence of an attempt) or a manual award (AwardEvidence).
    """
    credential_id = str(uuid.uuid4())
    graded = evidence if isinstance(evidence, builder.Evidence) else None
    record = Credential(
        id=credential_id, kind="graded" if graded else "award", learner_id=learner.id,
        attempt_id=graded.attempt_id if graded else None, assessment_id=graded.assessment_id if graded else None,
        document={}, jwt=None, kid=None, ldp=None, issued_at=now,
    )
    # Core statements, not the unit of work: the record is built here and stays out of the session.
    connection = session.connection()
    # The unique attempt_id makes a second credential for this attempt fail here.
    connection.execute(insert(Credential), {
        column.key: getattr(record, column.key) for column in Credential.__table__.columns
    })
    entries = status_lists.allocate(
        session, credential_id=credential_id, now=now, capacity=settings.status_list_capacity
    )
    document = builder.build_credential(
        credential_id=credential_id,
        issuer=issuer_of(settings),
        subject_id=learner.did or learner.subject_urn,
        achievement=achievement,
        evidence=evidence,
        score_percent=score_percent,
        mastery=mastery,
        status_entries=[
            builder.StatusEntryRef(
                purpose=entry.purpose,
                index=entry.status_index,
                list_url=status_lists.list_url(settings.base_url, entry.list_id),
            )
            for entry in entries
        ],
        issued_at=now,
        valid_until=valid_until,
        ability=ability,
        # A fresh salt per credential: two credentials of one learner cannot be linked by their identityHash.
        identifier=[identity.email_identity(learner.email, secrets.token_hex(16))] if learner.email else None,
    )
    claims = jose.claims_for(document)
    # Signed before it is written: the transaction stores document and signature in one UPDATE.
    record.jwt, record.kid = keystore.sign(claims)
    record.document = claims
    # On SQLite this runs under its one write lock: a hash waited for from a lower-priority worker would hold every
    # other writer back (priority inversion), so it is made here. Elsewhere writers run side by side, and the
    # hash goes to the canonical pool, off this process's GIL.
    in_pool = connection.dialect.name != "sqlite"
    record.ldp = secure_ldp(document, keystore, settings.issuer_did, now, in_pool=in_pool)
    connection.execute(_STORE_SIGNED, {
        "credential_id": credential_id, "document": claims, "jwt": record.jwt, "kid": record.kid, "ldp": record.ldp
    })
    return record


def secure_ldp(
    document: dict[str, Any], keystore: FileKeyStore, issuer_did: str, now: dt.datetime, *, in_pool: bool = True
) -> dict[str, Any] | None:
    """The credential (no JWT claims) with a DataIntegrityProof by the Data Integrity key; None if not JSON-LD safe.

    in_pool: hash in the canonical pool (when started) rather than in this thread.
    """
    key = keystore.data_integrity_key()
    assert isinstance(key.private_key, ed25519.Ed25519PrivateKey)  # eddsa-rdfc-2022 keys are Ed25519
    try:
        hasher = canonical_pool.hash_data if in_pool else None
        secured = data_integrity.add_proof(document, key.private_key, f"{issuer_did}#{key.kid}", now, hasher=hasher)
    except data_integrity.InvalidDocument as exc:
        # Safe mode refuses a document with an undefined term: no proof rather than one over silently lost data.
        logger.error("credential %s: no Data Integrity proof issued: %s", document.get("id"), exc)
        return None
    # OB 3.0 types `proof` as Proof [0..*], and 1EdTech's published schema wants an array (VC DM 2.0 allows both).
    return {**secured, "proof": [secured["proof"]]}


def credential_json(session: Session, record: Credential) -> dict[str, Any]:
    """The API view of a credential."""
    return {
        "id": record.id,
        "kind": record.kind,
        "attempt_id": record.attempt_id,
        "assessment_id": record.assessment_id,
        "learner_id": record.learner_id,
        "issued_at": record.issued_at,
        "credential": record.document,
        "jwt": record.jwt,
        "ldp": record.ldp,
        "status": status_lists.status_of(session, record.id),
    }


def get_visible(session: Session, credential_id: str, principal: Principal) -> Credential:
    """The credential if the caller may see it (owner or admin); 404 otherwise."""
    record = session.get(Credential, credential_id)
    if record is None or (not principal.is_admin and record.learner_id != principal.learner_id):
        raise NotFound("No such credential.")
    return record


def of_learner(session: Session, learner_id: str) -> list[Credential]:
    return list(
        session.scalars(
            select(Credential).where(Credential.learner_id == learner_id).order_by(Credential.issued_at)
        )
    )


def change_status(
    session: Session, record: Credential, *, action: str, reason: str | None, now: dt.datetime
) -> dict[str, bool]:
    """revoke (final), suspend, or reinstate (lifts a suspension)."""
    current = status_lists.status_of(session, record.id)
    if action == "revoke":
        if current["revoked"]:
            raise Conflict("The credential is already revoked.", code="already_revoked")
        status_lists.set_status(session, credential_id=record.id, purpose="revocation", value=True,
                                reason=reason, now=now)
    elif action == "suspend":
        if current["revoked"]:
            raise Conflict("A revoked credential cannot be suspended.", code="credential_revoked")
        if current["suspended"]:
            raise Conflict("The credential is already suspended.", code="already_suspended")
        status_lists.set_status(session, credential_id=record.id, purpose="suspension", value=True,
                                reason=reason, now=now)
    elif action == "reinstate":
        if current["revoked"]:
            raise Conflict("Revocation is final; a revoked credential cannot be reinstated.",
                           code="credential_revoked")
        if not current["suspended"]:
            raise Conflict("The credential is not suspended.", code="not_suspended")
        status_lists.set_status(session, credential_id=record.id, purpose="suspension", value=False,
                                reason=reason, now=now)
    return status_lists.status_of(session, record.id)
