"""Skills, assessments and attempts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from app.assessments import service
from app.assessments.generators.bank import BankGenerator
from app.assessments.models import Assessment
from app.assessments.schemas import (
    AdminAssessmentOut,
    AssessmentCreate,
    AssessmentOut,
    AttemptOut,
    GradeOut,
    Skill,
    SubmitRequest,
)
from app.deps import AdminOnly, ClockDep, CurrentLearner, CurrentPrincipal, KeyStoreDep, SessionDep, SettingsDep
from app.errors import error_responses

router = APIRouter(tags=["assessments"])


def _generator(request: Request) -> BankGenerator:
    return request.app.state.generator  # type: ignore[no-any-return]


def _learner_view(assessment: Assessment) -> AssessmentOut:
    return AssessmentOut(
        id=assessment.id, skill=assessment.skill, level=assessment.level, title=assessment.title,
        status=assessment.status,
        time_limit_seconds=assessment.time_limit_seconds, pass_percent=assessment.pass_percent,
        content_hash=assessment.content_hash, published_at=assessment.published_at,
        item_count=assessment.attempt_item_count or len(assessment.items), version=assessment.version,
        supersedes_id=assessment.supersedes_id, max_attempts=assessment.max_attempts,
        retake_cooldown_seconds=assessment.retake_cooldown_seconds,
    )


def _admin_view(assessment: Assessment) -> AdminAssessmentOut:
    return AdminAssessmentOut(
        **_learner_view(assessment).model_dump(),
        generator=assessment.generator, seed=assessment.seed, created_at=assessment.created_at,
        pool_size=len(assessment.items),
        items=assessment.items,  # type: ignore[arg-type]
        rubric=assessment.rubric, provenance=assessment.provenance, dropped_items=assessment.dropped_items or [],
    )


@router.get("/v1/skills", response_model=list[Skill], responses=error_responses(401))
def list_skills(request: Request, _: CurrentPrincipal) -> list[Skill]:
    """The skills and levels the generator can assess."""
    return [Skill(**skill) for skill in _generator(request).list_skills()]


@router.post(
    "/v1/assessments", status_code=201, response_model=AdminAssessmentOut,
    responses=error_responses(401, 403, 422),
)
def create_assessment(
    body: AssessmentCreate, request: Request, _: AdminOnly, session: SessionDep, settings: SettingsDep,
    now: ClockDep,
) -> AdminAssessmentOut:
    """Draw a draft assessment (admin view, answer keys included)."""
    assessment = service.create_draft(session, body, generator=_generator(request), settings=settings, now=now)
    return _admin_view(assessment)


@router.post(
    "/v1/assessments/{assessment_id}/publish", response_model=AdminAssessmentOut,
    responses=error_responses(401, 403, 404, 409),
)
def publish_assessment(
    assessment_id: str, principal: AdminOnly, session: SessionDep, now: ClockDep
) -> AdminAssessmentOut:
    """Freeze a draft: its content hash is fixed from now on."""
    assessment = service.get_assessment(session, assessment_id, principal)
    return _admin_view(service.publish(session, assessment, now))


@router.get(
    "/v1/assessments", response_model=list[AdminAssessmentOut] | list[AssessmentOut],
    responses=error_responses(401),
)
def list_assessments(
    principal: CurrentPrincipal, session: SessionDep,
    status: Annotated[Literal["draft", "published"] | None, Query()] = None,
) -> list[AdminAssessmentOut] | list[AssessmentOut]:
    """Published assessments (admins also see drafts, filterable by status)."""
    assessments = service.list_assessments(session, principal, status)
    if principal.is_admin:
        return [_admin_view(assessment) for assessment in assessments]
    return [_learner_view(assessment) for assessment in assessments]


@router.get(
    "/v1/assessments/{assessment_id}", response_model=AdminAssessmentOut | AssessmentOut,
    responses=error_responses(401, 404),
)
def get_assessment(
    assessment_id: str, principal: CurrentPrincipal, session: SessionDep
) -> AdminAssessmentOut | AssessmentOut:
    """One assessment; learners never see keys, explanations or the rubric."""
    assessment = service.get_assessment(session, assessment_id, principal)
    return _admin_view(assessment) if principal.is_admin else _learner_view(assessment)


@router.post(
    "/v1/assessments/{assessment_id}/attempts", status_code=201, response_model=AttemptOut,
    responses=error_responses(401, 403, 404),
)
def start_attempt(assessment_id: str, principal: CurrentLearner, session: SessionDep, now: ClockDep) -> AttemptOut:
    """Start an attempt: the items without answers, options shuffled, and the server-side deadline."""
    assessment = service.get_assessment(session, assessment_id, principal)
    assert principal.learner_id is not None
    attempt = service.start_attempt(session, assessment, principal.learner_id, now)
    return AttemptOut(**service.attempt_json(session, attempt, assessment, now))


@router.get("/v1/attempts/{attempt_id}", response_model=AttemptOut, responses=error_responses(401, 404))
def get_attempt(attempt_id: str, principal: CurrentPrincipal, session: SessionDep, now: ClockDep) -> AttemptOut:
    """The attempt, with its grade once graded (owner or admin)."""
    attempt = service.get_attempt(session, attempt_id, principal)
    assessment = session.get(Assessment, attempt.assessment_id)
    assert assessment is not None
    return AttemptOut(**service.attempt_json(session, attempt, assessment, now))


@router.post(
    "/v1/attempts/{attempt_id}/submit", response_model=GradeOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def submit_attempt(
    attempt_id: str, body: SubmitRequest, principal: CurrentLearner, session: SessionDep,
    settings: SettingsDep, keystore: KeyStoreDep, now: ClockDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Grade the attempt exactly once; a passing grade comes with its credential id."""
    attempt = service.get_attempt(session, attempt_id, principal)
    content = service.submit(
        session, attempt, [response.model_dump() for response in body.responses],
        idempotency_key=idempotency_key, settings=settings, keystore=keystore, now=now,
    )
    return Response(content=content, media_type="application/json")

