"""Assessments (draft, publish) and attempts (start, submit exactly once)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

import rfc8785
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.assessments import freeze
from app.assessments.generators.bank import BankGenerator
from app.assessments.models import Assessment, Attempt, Grade
from app.assessments.schemas import AssessmentCreate
from app.auth.models import Learner
from app.auth.service import Principal
from app.config import Settings
from app.credentials import service as credentials_service
from app.errors import Conflict, NotFound, Unprocessable
from app.grading import rubric as grading
from app.keys.keystore import FileKeyStore

MULTIPLE_RESPONSE_SCORING = "right_minus_wrong"


def create_draft(
    session: Session, body: AssessmentCreate, *, generator: BankGenerator, settings: Settings, now: dt.datetime
) -> Assessment:
    """Draw a draft from the generator with a recorded seed."""
    if (body.generator or settings.generator) != "bank":
        raise Unprocessable(
            "The LLM generator is not available on this service yet; use \"generator\": \"bank\".",
            code="generator_unavailable",
        )
    skill = generator.skills.get(body.skill)
    if skill is None:
        raise Unprocessable(f"Unknown skill {body.skill!r}; GET /v1/skills lists them.", code="unknown_skill")
    if body.level not in skill.levels:
        raise Unprocessable(
            f"Skill {body.skill!r} has levels {list(skill.levels)}, not {body.level!r}.", code="unknown_level"
        )
    available = generator.available(body.skill, body.level)
    if body.item_count > available:
        raise Unprocessable(
            f"The bank holds {available} items for {body.skill} at {body.level}; ask for at most that many.",
            code="not_enough_items",
        )
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    items = generator.draft(body.skill, body.level, body.item_count, seed)
    rubric: dict[str, Any] = {
        "version": grading.RUBRIC_VERSION,
        "pass_percent": body.pass_percent,
        "multiple_response": MULTIPLE_RESPONSE_SCORING,
        "numeric": "absolute_or_relative_tolerance",
        "credential_valid_days": body.credential_valid_days,
    }
    assessment = Assessment(
        skill=skill.id,
        skill_name=skill.name,
        skill_description=skill.description,
        level=body.level,
        title=body.title or f"{skill.name}: {body.level}",
        status="draft",
        generator="bank",
        seed=seed,
        time_limit_seconds=body.time_limit_seconds or settings.default_time_limit_seconds,
        pass_percent=body.pass_percent,
        items=items,
        rubric=rubric,
        content_hash=None,
        created_at=now,
    )
    session.add(assessment)
    session.flush()
    return assessment


def get_assessment(session: Session, assessment_id: str, principal: Principal) -> Assessment:
    """Admins see drafts too; learners only published assessments."""
    assessment = session.get(Assessment, assessment_id)
    if assessment is None or (assessment.status != "published" and not principal.is_admin):
        raise NotFound("No such assessment.")
    return assessment


def list_assessments(session: Session, principal: Principal, status: str | None) -> list[Assessment]:
    query = select(Assessment).order_by(Assessment.created_at, Assessment.id)
    if not principal.is_admin:
        query = query.where(Assessment.status == "published")
    elif status:
        query = query.where(Assessment.status == status)
    return list(session.scalars(query))


def publish(session: Session, assessment: Assessment, now: dt.datetime) -> Assessment:
    """Freeze: compute the content hash; a published assessment never changes."""
    if assessment.status == "published":
        raise Conflict("The assessment is already published.", code="already_published")
    assessment.content_hash = freeze.content_hash(assessment.items, assessment.rubric)
    assessment.status = "published"
    assessment.published_at = now
    session.flush()
    return assessment


def start_attempt(session: Session, assessment: Assessment, learner_id: str, now: dt.datetime) -> Attempt:
    if assessment.status != "published":
        raise NotFound("No such assessment.")
    attempt = Attempt(
        assessment_id=assessment.id,
        learner_id=learner_id,
        seed=secrets.randbelow(2**31),
        started_at=now,
        expires_at=now + dt.timedelta(seconds=assessment.time_limit_seconds),
    )
    session.add(attempt)
    session.flush()
    return attempt


def get_attempt(session: Session, attempt_id: str, principal: Principal) -> Attempt:
    """The attempt if the caller owns it or is an admin; 404 otherwise (never reveal it exists)."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or (not principal.is_admin and attempt.learner_id != principal.learner_id):
        raise NotFound("No such attempt.")
    return attempt


def grade_of(session: Session, attempt_id: str) -> Grade | None:
    return session.scalars(select(Grade).where(Grade.attempt_id == attempt_id)).first()


def grade_json(grade: Grade, credential_id: str | None) -> dict[str, Any]:
    return {
        "attempt_id": grade.attempt_id,
        "status": "graded",
        "score": grade.score,
        "max_score": grade.max_score,
        "percent": grade.percent,
        "passed": grade.passed,
        "items": grade.item_scores,
        "credential_id": credential_id,
        "graded_at": grade.graded_at.isoformat().replace("+00:00", "Z"),
    }


def attempt_json(session: Session, attempt: Attempt, assessment: Assessment, now: dt.datetime) -> dict[str, Any]:
    grade = grade_of(session, attempt.id)
    if grade is not None:
        status = "graded"
        grade_body: dict[str, Any] | None = json.loads(grade.response_body)
    else:
        status = "expired" if now > attempt.expires_at else "in_progress"
        grade_body = None
    return {
        "id": attempt.id,
        "assessment_id": attempt.assessment_id,
        "learner_id": attempt.learner_id,
        "status": status,
        "started_at": attempt.started_at,
        "expires_at": attempt.expires_at,
        "items": freeze.present(assessment.items, attempt.seed),
        "grade": grade_body,
    }


def _replay_or_refuse(grade: Grade, idempotency_key: str | None, request_hash: str) -> bytes:
    if idempotency_key is not None and grade.idempotency_key == idempotency_key:
        if grade.request_hash == request_hash:
            return grade.response_body.encode()
        raise Unprocessable(
            "This Idempotency-Key was used with a different body.", code="idempotency_key_reused"
        )
    raise Conflict("This attempt has already been submitted and graded.", code="already_submitted")


def submit(
    session: Session,
    attempt: Attempt,
    responses: list[dict[str, Any]],
    *,
    idempotency_key: str | None,
    settings: Settings,
    keystore: FileKeyStore,
    now: dt.datetime,
) -> bytes:
    """Grade once and, on a pass, issue the credential; returns the exact response body bytes."""
    request_hash = hashlib.sha256(rfc8785.dumps({"responses": responses})).hexdigest()
    existing = grade_of(session, attempt.id)
    if existing is not None:
        return _replay_or_refuse(existing, idempotency_key, request_hash)
    if now > attempt.expires_at:
        raise Conflict(
            f"The time limit ended at {attempt.expires_at.isoformat()}; the attempt can no longer be submitted.",
            code="attempt_expired",
        )
    assessment = session.get(Assessment, attempt.assessment_id)
    assert assessment is not None
    try:
        result = grading.grade(assessment.items, assessment.rubric, responses)
    except grading.ResponseError as exc:
        raise Unprocessable(str(exc), code="invalid_response") from None
    scores = result.to_json()
    grade = Grade(
        attempt_id=attempt.id,
        responses=responses,
        score=scores["score"],
        max_score=scores["max_score"],
        percent=scores["percent"],
        passed=scores["passed"],
        item_scores=scores["items"],
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        response_body="",
        graded_at=now,
    )
    try:
        with session.begin_nested():
            session.add(grade)
    except IntegrityError:
        # A concurrent submit graded it first (the unique attempt_id said so).
        winner = grade_of(session, attempt.id)
        if winner is None:
            raise
        return _replay_or_refuse(winner, idempotency_key, request_hash)
    credential_id = None
    if result.passed:
        learner = session.get(Learner, attempt.learner_id)
        assert learner is not None
        record = credentials_service.issue(
            session, settings=settings, keystore=keystore, assessment=assessment, attempt=attempt,
            learner=learner, grade=grade, now=now,
        )
        credential_id = record.id
    body = json.dumps(grade_json(grade, credential_id), separators=(",", ":"))
    grade.response_body = body
    session.flush()
    return body.encode()
