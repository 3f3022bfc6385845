"""Skills, assessments and attempts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from app.assessments import blueprints, jobs, regrade, review, service
from app.assessments.generators.bank import BankGenerator
from app.assessments.models import Assessment
from app.assessments.pregrade import PreGradedDep
from app.assessments.schemas import (
    AdminAssessmentOut,
    AdminAttemptOut,
    AmendmentOut,
    AssessmentCreate,
    AssessmentOut,
    AttemptOut,
    BlueprintOut,
    CompetencyOut,
    EvidenceOut,
    GradeOut,
    ItemEdit,
    ItemIn,
    ItemStatisticsOut,
    JobAccepted,
    JobOut,
    PrecisionOut,
    PrecisionSummaryOut,
    ReliabilityOut,
    ReviewIn,
    ReviewOut,
    ReviewsOut,
    Skill,
    SkillDetail,
    VoidRequest,
)
from app.credentials.builder import CompetencyLine, criteria_narrative, evidence_id
from app.deps import (
    AdminOnly,
    AuditDep,
    ClockDep,
    CurrentLearner,
    CurrentPrincipal,
    KeyStoreDep,
    SessionDep,
    SettingsDep,
)
from app.errors import NotFound, PrecisionErrorBody, error_responses
from app.grading import statistics

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
        precision=PrecisionSummaryOut.model_validate(assessment.precision) if assessment.precision else None,
        blueprint=_blueprint_view(assessment),
    )


def _blueprint_view(assessment: Assessment) -> BlueprintOut | None:
    """The frozen blueprint, with each competency's items in this assessment's attempts."""
    frozen = assessment.rubric.get("blueprint")
    if frozen is None:
        return None
    scored = sum(1 for item in assessment.items if not item.get("pretest"))
    planned = blueprints.plan(frozen, assessment.attempt_item_count or scored)
    return BlueprintOut(
        level_descriptor=frozen["level_descriptor"], attempt_items=frozen["attempt_items"],
        competencies=[
            CompetencyOut(**competency, items_per_attempt=planned[competency["criterion"]])
            for competency in frozen["competencies"]
        ],
    )


def _admin_view(assessment: Assessment) -> AdminAssessmentOut:
    return AdminAssessmentOut(
        **_learner_view(assessment).model_dump(exclude={"precision"}),
        precision=PrecisionOut.model_validate(assessment.precision) if assessment.precision else None,
        generator=assessment.generator, seed=assessment.seed, created_at=assessment.created_at,
        pool_size=len(assessment.items),
        items=assessment.items,  # type: ignore[arg-type]
        rubric=assessment.rubric, provenance=assessment.provenance, dropped_items=assessment.dropped_items or [],
    )


@router.get("/v1/skills", response_model=list[Skill], responses=error_responses(401))
def list_skills(request: Request, _: CurrentPrincipal) -> list[Skill]:
    """The skills and levels the generator can assess."""
    return [Skill(**skill) for skill in _generator(request).list_skills()]


@router.get("/v1/skills/{skill_id}", response_model=SkillDetail, responses=error_responses(401, 404))
def get_skill(skill_id: str, request: Request, _: CurrentPrincipal) -> SkillDetail:
    """One skill, with each level's descriptor (what a pass means) and blueprint (what an attempt covers)."""
    skill = _generator(request).skills.get(skill_id)
    if skill is None:
        raise NotFound("No such skill; GET /v1/skills lists them.")
    return SkillDetail(**skill.detail())


@router.post(
    "/v1/assessments", status_code=201, response_model=AdminAssessmentOut,
    responses={
        202: {"model": JobAccepted, "description": "LLM generation queued as a job (GET /v1/jobs/{job_id})"},
        **error_responses(401, 403, 422),
    },
)
def create_assessment(
    body: AssessmentCreate, request: Request, _: AdminOnly, session: SessionDep, settings: SettingsDep,
    now: ClockDep, audit: AuditDep,
) -> AdminAssessmentOut | JSONResponse:
    """Draw a draft from the bank (201, admin view with keys), or queue LLM generation (202 with a job id)."""
    if (body.generator or settings.generator) == "llm":
        job = jobs.enqueue(session, body, bank=_generator(request), settings=settings, now=now)
        audit.record("assessment.generate", "job", job.id, details={"skill": body.skill, "level": body.level})
        session.commit()  # the worker must see the job before it is woken
        request.app.state.job_runner.notify()
        accepted = JobAccepted(job_id=job.id, status="queued", location=f"/v1/jobs/{job.id}")
        return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": accepted.location})
    assessment = service.create_draft(session, body, generator=_generator(request), settings=settings, now=now)
    audit.record("assessment.create", "assessment", assessment.id, details={"skill": body.skill, "level": body.level})
    return _admin_view(assessment)


@router.get("/v1/jobs/{job_id}", response_model=JobOut, responses=error_responses(401, 403, 404))
def get_job(job_id: str, _: AdminOnly, session: SessionDep) -> JobOut:
    """A generation job: queued, running, succeeded (with its draft's id) or failed (with the reason)."""
    return JobOut(**jobs.job_json(jobs.get_job(session, job_id)))


@router.post(
    "/v1/assessments/{assessment_id}/publish", response_model=AdminAssessmentOut,
    responses={
        **error_responses(401, 403, 404, 409),
        422: {"model": PrecisionErrorBody, "description": "An item fails the checks (`items_invalid`), or the design "
              "is too imprecise (`insufficient_precision`, with its figures in `precision`)"},
    },
)
def publish_assessment(
    assessment_id: str, principal: AdminOnly, session: SessionDep, settings: SettingsDep, now: ClockDep,
    audit: AuditDep,
) -> AdminAssessmentOut:
    """Freeze a draft (refused while an item fails the checks, while a candidate 15 points below the pass mark
    would pass too often, and for LLM items until a recorded review approves them: 409 review_required); a new
    version retires the one it revises."""
    assessment = service.get_assessment(session, assessment_id, principal)
    if assessment.status == "draft":
        review.refuse_invalid(assessment)
        review.refuse_unreviewed(session, assessment)
    published = service.publish(session, assessment, now, settings)
    review.supersede_previous(session, published)
    audit.record("assessment.publish", "assessment", published.id, details={"content_hash": published.content_hash})
    return _admin_view(published)


DRAFT_ERRORS = error_responses(401, 403, 404, 409, 422)


def _admin_assessment(session: SessionDep, assessment_id: str, principal: AdminOnly) -> Assessment:
    return service.get_assessment(session, assessment_id, principal)


@router.patch("/v1/assessments/{assessment_id}/items/{item_id}", response_model=AdminAssessmentOut,
              responses=DRAFT_ERRORS)
def edit_item(
    assessment_id: str, item_id: str, body: ItemEdit, principal: AdminOnly, session: SessionDep, audit: AuditDep
) -> AdminAssessmentOut:
    """Edit fields of a draft's item; the edited item must pass every check."""
    assessment = _admin_assessment(session, assessment_id, principal)
    changes = body.model_dump(exclude_unset=True)
    edited = review.edit_item(session, assessment, item_id, changes)
    audit.record("assessment.item_edit", "assessment", assessment.id,
                 details={"item_id": item_id, "fields": sorted(changes)})
    return _admin_view(edited)


@router.put("/v1/assessments/{assessment_id}/items/{item_id}", response_model=AdminAssessmentOut,
            responses=DRAFT_ERRORS)
def replace_item(
    assessment_id: str, item_id: str, body: ItemIn, principal: AdminOnly, session: SessionDep, audit: AuditDep
) -> AdminAssessmentOut:
    """Replace a draft's item with a whole new one (same id)."""
    assessment = _admin_assessment(session, assessment_id, principal)
    replaced = review.replace_item(session, assessment, item_id, body.model_dump(exclude_none=True))
    audit.record("assessment.item_replace", "assessment", assessment.id, details={"item_id": item_id})
    return _admin_view(replaced)


@router.post("/v1/assessments/{assessment_id}/items", status_code=201, response_model=AdminAssessmentOut,
             responses=DRAFT_ERRORS)
def add_item(
    assessment_id: str, body: ItemIn, principal: AdminOnly, session: SessionDep, audit: AuditDep
) -> AdminAssessmentOut:
    """Add an item to a draft."""
    assessment = _admin_assessment(session, assessment_id, principal)
    item = body.model_dump(exclude_none=True)
    item.setdefault("id", f"{assessment.skill}-custom-{len(assessment.items) + 1}")
    added = review.add_item(session, assessment, item)
    audit.record("assessment.item_add", "assessment", assessment.id, details={"item_id": item["id"]})
    return _admin_view(added)


@router.delete("/v1/assessments/{assessment_id}/items/{item_id}", response_model=AdminAssessmentOut,
               responses=DRAFT_ERRORS)
def drop_item(
    assessment_id: str, item_id: str, principal: AdminOnly, session: SessionDep, audit: AuditDep
) -> AdminAssessmentOut:
    """Drop an item from a draft."""
    assessment = _admin_assessment(session, assessment_id, principal)
    dropped = review.drop_item(session, assessment, item_id)
    audit.record("assessment.item_drop", "assessment", assessment.id, details={"item_id": item_id})
    return _admin_view(dropped)


def _reviews_view(session: SessionDep, assessment: Assessment) -> ReviewsOut:
    approval = review.current_approval(session, assessment)
    return ReviewsOut(
        checklist=review.REVIEW_CHECKLIST, review_required=review.needs_review(assessment),
        current_approval=ReviewOut.model_validate(approval) if approval else None,
        reviews=[ReviewOut.model_validate(entry) for entry in review.reviews_of(session, assessment.id)],
    )


@router.post("/v1/assessments/{assessment_id}/reviews", status_code=201, response_model=ReviewOut,
             responses=DRAFT_ERRORS)
def record_review(
    assessment_id: str, body: ReviewIn, principal: AdminOnly, session: SessionDep, now: ClockDep, audit: AuditDep
) -> ReviewOut:
    """Record a person's review of a draft's items (who, when, the checklist); an LLM draft publishes only once
    the latest review approves its items as they are."""
    assessment = _admin_assessment(session, assessment_id, principal)
    entry = review.record_review(
        session, assessment, reviewer=principal.label or principal.key_id, decision=body.decision,
        checklist=body.checklist, notes=body.notes, now=now,
    )
    audit.record("assessment.review", "assessment", assessment.id,
                 details={"decision": entry.decision, "items_hash": entry.items_hash})
    return ReviewOut.model_validate(entry)


@router.get("/v1/assessments/{assessment_id}/reviews", response_model=ReviewsOut,
            responses=error_responses(401, 403, 404))
def list_reviews(assessment_id: str, principal: AdminOnly, session: SessionDep) -> ReviewsOut:
    """The review checklist, whether publishing needs an approval, and every review recorded."""
    return _reviews_view(session, _admin_assessment(session, assessment_id, principal))


@router.post("/v1/assessments/{assessment_id}/versions", status_code=201, response_model=AdminAssessmentOut,
             responses=error_responses(401, 403, 404, 409))
def new_version(
    assessment_id: str, principal: AdminOnly, session: SessionDep, now: ClockDep, audit: AuditDep
) -> AdminAssessmentOut:
    """A draft revision of a published assessment; publishing it supersedes the old version."""
    source = _admin_assessment(session, assessment_id, principal)
    draft = review.new_version(session, source, now)
    audit.record("assessment.new_version", "assessment", draft.id, details={"revises": source.id})
    return _admin_view(draft)


@router.post("/v1/assessments/{assessment_id}/items/{item_id}/void", status_code=201, response_model=AmendmentOut,
             responses=error_responses(401, 403, 404, 409, 422))
def void_item(
    assessment_id: str, item_id: str, body: VoidRequest, principal: AdminOnly, session: SessionDep,
    settings: SettingsDep, keystore: KeyStoreDep, now: ClockDep, audit: AuditDep,
) -> AmendmentOut:
    """Void a wrong item of a published assessment: every attempt is regraded without it, new passes earn
    their credential, and nobody loses one."""
    assessment = _admin_assessment(session, assessment_id, principal)
    amendment = regrade.void_item(session, assessment, item_id, reason=body.reason, settings=settings,
                                  keystore=keystore, now=now)
    audit.record("assessment.item_void", "assessment", assessment.id, reason=body.reason,
                 details={"item_id": item_id, "amendment_id": amendment.id})
    return AmendmentOut(**regrade.amendment_json(amendment))


@router.get("/v1/assessments/{assessment_id}/amendments", response_model=list[AmendmentOut],
            responses=error_responses(401, 404))
def list_amendments(assessment_id: str, principal: CurrentPrincipal, session: SessionDep) -> list[AmendmentOut]:
    """The recorded amendments of an assessment (visible to everyone who can see it)."""
    assessment = service.get_assessment(session, assessment_id, principal)
    return [AmendmentOut(**regrade.amendment_json(a)) for a in regrade.amendments_of(session, assessment.id)]


@router.get("/v1/assessments/{assessment_id}/item-stats", response_model=list[ItemStatisticsOut],
            responses=error_responses(401, 403, 404))
def item_stats(assessment_id: str, principal: AdminOnly, session: SessionDep) -> list[ItemStatisticsOut]:
    """Per item: share correct and point-biserial discrimination from graded attempts; negative ones flagged."""
    assessment = _admin_assessment(session, assessment_id, principal)
    graded = service.graded_item_scores(session, assessment.id)
    results = statistics.item_statistics([item["id"] for item in assessment.items], graded)
    return [ItemStatisticsOut(**result.to_json()) for result in results]


@router.get("/v1/assessments/{assessment_id}/reliability", response_model=ReliabilityOut,
            responses=error_responses(401, 403, 404))
def reliability(
    assessment_id: str, principal: AdminOnly, session: SessionDep, settings: SettingsDep
) -> ReliabilityOut:
    """KR-20 / Cronbach's alpha and the SEM (points, percent) from graded first attempts, once there are
    SKILLPROOF_RELIABILITY_MIN_FIRST_ATTEMPTS of them (null before, with the count)."""
    assessment = _admin_assessment(session, assessment_id, principal)
    first = service.first_attempt_item_scores(session, assessment.id)
    result = statistics.reliability(first, min_attempts=settings.reliability_min_first_attempts)
    return ReliabilityOut(assessment_id=assessment.id, **result.to_json())


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


@router.get("/v1/assessments/{assessment_id}/evidence", response_model=EvidenceOut, responses=error_responses(404))
def get_evidence(assessment_id: str, session: SessionDep, settings: SettingsDep) -> EvidenceOut:
    """The public evidence view a credential's evidence id resolves to (no key): facts, never items or keys;
    `criteria` is what a credential's criteria id (`…/evidence#criteria`) names."""
    assessment = service.get_published(session, assessment_id)
    blueprint = _blueprint_view(assessment)
    criteria = criteria_narrative(
        skill_name=assessment.skill_name, level=assessment.level, pass_percent=assessment.pass_percent,
        level_descriptor=blueprint.level_descriptor if blueprint else "",
        competencies=tuple(
            CompetencyLine(criterion=line.criterion, weight=line.weight, items=line.items_per_attempt or 0)
            for line in (blueprint.competencies if blueprint else [])
        ),
    )
    return EvidenceOut(
        id=evidence_id(settings.base_url, assessment.id), assessment_id=assessment.id, title=assessment.title,
        skill=assessment.skill, skill_name=assessment.skill_name, level=assessment.level, status=assessment.status,
        content_hash=assessment.content_hash, item_count=assessment.attempt_item_count or len(assessment.items),
        time_limit_seconds=assessment.time_limit_seconds, pass_percent=assessment.pass_percent,
        published_at=assessment.published_at, version=assessment.version,
        precision=PrecisionSummaryOut.model_validate(assessment.precision) if assessment.precision else None,
        criteria=criteria, blueprint=blueprint,
    )


@router.post(
    "/v1/assessments/{assessment_id}/attempts", status_code=201, response_model=AttemptOut,
    responses=error_responses(401, 403, 404, 409),
)
def start_attempt(
    assessment_id: str, principal: CurrentLearner, session: SessionDep, settings: SettingsDep, now: ClockDep
) -> AttemptOut:
    """Start an attempt under the retake policy (409 `retake_cooldown` with Retry-After, 409
    `attempts_exhausted`): items without answers under ids of this attempt alone, options shuffled, and the
    server-side deadline."""
    assessment = service.get_assessment(session, assessment_id, principal)
    assert principal.learner_id is not None
    attempt = service.start_attempt(
        session, assessment, principal.learner_id, now, pretest_max_share=settings.pretest_max_share
    )
    return AttemptOut(**service.attempt_json(
        session, attempt, assessment, now, admin=False, settings=settings, just_started=True
    ))


@router.get(
    "/v1/attempts/{attempt_id}", response_model=AdminAttemptOut | AttemptOut, responses=error_responses(401, 404)
)
def get_attempt(
    attempt_id: str, principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep, now: ClockDep
) -> AdminAttemptOut | AttemptOut:
    """The attempt, with its grade once graded (owner or admin); admins also see each item's key, its
    assessment item id and the per-item scores."""
    attempt = service.get_attempt(session, attempt_id, principal)
    assessment = session.get(Assessment, attempt.assessment_id)
    assert assessment is not None
    view = service.attempt_json(session, attempt, assessment, now, admin=principal.is_admin, settings=settings)
    return AdminAttemptOut(**view) if principal.is_admin else AttemptOut(**view)


@router.post(
    "/v1/attempts/{attempt_id}/submit", response_model=GradeOut,
    responses=error_responses(401, 403, 404, 409, 422),
)
def submit_attempt(
    attempt_id: str, pre: PreGradedDep, principal: CurrentLearner, session: SessionDep,
    settings: SettingsDep, keystore: KeyStoreDep, now: ClockDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """Grade the attempt exactly once (responses name the attempt's item ids); a passing grade comes with its
    credential id. Learners get the total, pass, mastery and criteria, not per-item scores. A sql_query answer is
    run on the item's hidden data in the grading pool first; a full pool answers 503 busy with Retry-After."""
    attempt = service.get_attempt(session, attempt_id, principal)
    content = service.submit(
        session, attempt, [response.model_dump() for response in pre.body.responses],
        idempotency_key=idempotency_key, settings=settings, keystore=keystore, now=now, runs=pre.runs,
    )
    return Response(content=content, media_type="application/json")

