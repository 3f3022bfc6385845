"""Amendments: voiding an item of a published assessment, regrading every attempt, and proving grades."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.assessments import freeze, records
from app.assessments.models import Amendment, Assessment, Attempt, Grade, GradeRevision
from app.assessments.records import CheckReport, compare
from app.auth.models import Learner
from app.config import Settings
from app.credentials import service as credentials_service
from app.credentials.models import Credential
from app.errors import Conflict, NotFound
from app.grading import rubric as grading
from app.keys.keystore import FileKeyStore


def amendment_json(amendment: Amendment) -> dict[str, Any]:
    return {
        "id": amendment.id,
        "assessment_id": amendment.assessment_id,
        "action": amendment.action,
        "item_id": amendment.item_id,
        "reason": amendment.reason,
        "regraded_attempts": amendment.regraded_attempts,
        "newly_passed": amendment.newly_passed,
        "created_at": amendment.created_at,
    }


def amendments_of(session: Session, assessment_id: str) -> list[Amendment]:
    return list(
        session.scalars(
            select(Amendment).where(Amendment.assessment_id == assessment_id).order_by(Amendment.created_at)
        )
    )


def _snapshot(grade: Grade) -> dict[str, Any]:
    return {**grade.result(), "voided_items": grade.voided_items, "graded_at": grade.graded_at.isoformat()}


def ever_passed(session: Session, grade: Grade) -> bool:
    """Whether any earlier revision of this grade passed (an amendment never takes a pass away)."""
    revisions = session.scalars(select(GradeRevision.previous).where(GradeRevision.grade_id == grade.id))
    return any(previous.get("passed") for previous in revisions)


def regrade_result(session: Session, assessment: Assessment, attempt: Attempt, grade: Grade) -> grading.Grade:
    """The grade recomputed from the frozen items, the stored responses and the voided items it names."""
    return grading.grade(
        freeze.attempt_items(assessment.items, attempt.item_ids), assessment.rubric, grade.responses,
        voided=grade.voided_items or (),
    )


def void_item(
    session: Session, assessment: Assessment, item_id: str, *, reason: str, settings: Settings,
    keystore: FileKeyStore, now: dt.datetime,
) -> Amendment:
    """Void one item and regrade every graded attempt without it; new passes get their credential."""
    if assessment.status not in ("published", "superseded"):
        raise Conflict("Only a published assessment is amended; edit the draft instead.", code="not_published")
    if all(item["id"] != item_id for item in assessment.items):
        raise NotFound("No such item in this assessment.")
    amendment = Amendment(
        assessment_id=assessment.id, action="void_item", item_id=item_id, reason=reason, regraded_attempts=0,
        newly_passed=0, created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(amendment)
    except IntegrityError:
        raise Conflict("This item is already voided.", code="already_voided") from None
    voided = sorted({*(a.item_id for a in amendments_of(session, assessment.id)), item_id})
    if len(voided) >= len(assessment.items):
        raise Conflict("Voiding every item would leave nothing to grade.", code="nothing_left")
    rows = session.execute(
        select(Attempt, Grade).join(Grade, Grade.attempt_id == Attempt.id).where(Attempt.assessment_id == assessment.id)
    ).all()
    for attempt, grade in rows:
        drawn = attempt.item_ids if attempt.item_ids is not None else [item["id"] for item in assessment.items]
        if item_id not in drawn:
            continue
        session.add(GradeRevision(grade_id=grade.id, amendment_id=amendment.id, previous=_snapshot(grade),
                                  created_at=now))
        was_passed = grade.passed
        result = grading.grade(
            freeze.attempt_items(assessment.items, attempt.item_ids), assessment.rubric, grade.responses,
            voided=voided,
        ).to_json()
        grade.set_result({**result, "passed": result["passed"] or was_passed})
        grade.voided_items = voided
        amendment.regraded_attempts += 1
        if grade.passed and not was_passed:
            has_credential = session.scalar(select(Credential.id).where(Credential.attempt_id == attempt.id))
            if has_credential is None:
                learner = session.get(Learner, attempt.learner_id)
                assert learner is not None
                credentials_service.issue(
                    session, settings=settings, keystore=keystore, assessment=assessment, attempt=attempt,
                    learner=learner, grade=grade, now=now,
                )
                amendment.newly_passed += 1
    session.flush()
    return amendment


def check_all(session: Session) -> CheckReport:
    """Re-run grading over every stored attempt and compare with the stored grade, field by field."""
    mismatches = []
    engines: set[str] = set()
    checked = 0
    rows = session.execute(
        select(Assessment, Attempt, Grade)
        .join(Attempt, Attempt.assessment_id == Assessment.id)
        .join(Grade, Grade.attempt_id == Attempt.id)
        .order_by(Grade.graded_at, Grade.id)
    ).all()
    for assessment, attempt, grade in rows:
        checked += 1
        result = regrade_result(session, assessment, attempt, grade).to_json()
        differing, notes = compare(grade.result(), result, result["passed"] or ever_passed(session, grade))
        engines |= {f"attempt {attempt.id}: {note}" for note in notes}
        if differing:
            mismatches.append(f"attempt {attempt.id}: {', '.join(differing)} differ")
    return CheckReport(checked=checked, mismatches=mismatches, engines=sorted(engines))


def grading_record(session: Session, attempt_id: str) -> dict[str, Any]:
    """The grading record of one graded attempt (records.check_record re-grades it)."""
    row = session.execute(
        select(Assessment, Attempt, Grade)
        .join(Attempt, Attempt.assessment_id == Assessment.id)
        .join(Grade, Grade.attempt_id == Attempt.id)
        .where(Attempt.id == attempt_id)
    ).first()
    if row is None:
        raise NotFound("No graded attempt with this id.")
    assessment, attempt, grade = row
    return {
        "format": records.RECORD_FORMAT,
        "assessment_id": assessment.id,
        "attempt_id": attempt.id,
        "content_hash": assessment.content_hash,
        "items": assessment.items,
        "rubric": assessment.rubric,
        "attempt_item_ids": attempt.item_ids,
        "responses": grade.responses,
        "voided": list(grade.voided_items or []),
        "grade": grade.result(),
        "passed_before": ever_passed(session, grade),
    }
