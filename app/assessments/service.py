"""Assessments (draft, publish) and attempts (start, submit exactly once)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
from collections.abc import Mapping
from typing import Any

import rfc8785
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.assessments import freeze, review, rules
from app.assessments.generators.bank import BankGenerator, Skill
from app.assessments.models import Amendment, Assessment, Attempt, Grade, GradeRevision
from app.assessments.schemas import AssessmentCreate
from app.auth.models import Learner
from app.auth.service import Principal
from app.calibration import pretest
from app.calibration import service as calibration
from app.config import Settings
from app.credentials import service as credentials_service
from app.credentials.models import Credential
from app.db import new_id
from app.errors import Conflict, InsufficientPrecision, NotFound, Unprocessable
from app.grading import precision as precision_model
from app.grading import rubric as grading
from app.grading.outcomes import TaskResult
from app.keys.keystore import FileKeyStore


def requested_skill(body: AssessmentCreate, catalogue: BankGenerator) -> Skill:
    """The skill and level asked for, from the catalogue every generator works from; 422 otherwise."""
    skill = catalogue.skills.get(body.skill)
    if skill is None:
        raise Unprocessable(f"Unknown skill {body.skill!r}; GET /v1/skills lists them.", code="unknown_skill")
    if body.level not in skill.levels:
        raise Unprocessable(
            f"Skill {body.skill!r} has levels {list(skill.levels)}, not {body.level!r}.", code="unknown_level"
        )
    return skill


def create_draft(
    session: Session, body: AssessmentCreate, *, generator: BankGenerator, settings: Settings, now: dt.datetime
) -> Assessment:
    """Draw a draft from the generator with a recorded seed."""
    skill = requested_skill(body, generator)
    types = tuple(body.item_types) if body.item_types else None
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    state = calibration.draft_state(session, body.skill, body.level, settings)
    pool = generator.pool(body.skill, body.level, seed, types, state.quarantined)
    available = generator.capacity(body.skill, body.level, seed, types, state.quarantined)
    if body.item_count > available:
        raise Unprocessable(
            f"The bank holds {available} such items for {body.skill} at {body.level} that can be drawn together "
            "(no two that give each other away); ask for at most that many.",
            code="not_enough_items",
        )
    # Scored items from established items when there are enough of them; new items then ride along as pretest:
    # new bank items, and reviewed LLM items of this skill and level (never scored in a bank draft).
    new_items = [item for item in pool if state.is_new(item["id"])]
    new_llm_items = [
        item for item in reviewed_llm_items(session, body.skill, body.level)
        if state.is_new(item["id"]) and item["id"] not in state.quarantined
        and (types is None or item["type"] in types) and not rules.near_duplicate_problems(item, pool)
    ]
    pretest_items: list[dict[str, Any]] = []
    exclude = set(state.quarantined)
    established = exclude | {item["id"] for item in new_items}
    if (new_items or new_llm_items) and (
        generator.capacity(body.skill, body.level, seed, types, established) >= body.item_count
    ):
        exclude = established
        pretest_items = pretest.choose_pretest(
            new_items + new_llm_items, body.item_count, settings.pretest_max_share, seed
        )
    drawn = generator.draft(body.skill, body.level, body.item_count, seed, types, exclude)
    items = [freeze.normalise_item(pretest.frozen(item, state.calibrations.get(item["id"]), pretest=False))
             for item in drawn]
    items += [freeze.normalise_item(pretest.frozen({key: value for key, value in item.items() if key != "level"},
                                                   None, pretest=True)) for item in pretest_items]
    blueprint = generator.blueprint(body.skill, body.level) if types is None else None
    return new_draft(session, body, skill_id=skill.id, skill_name=skill.name,
                      skill_description=skill.description, items=items, seed=seed, generator_name="bank",
                      provenance={"bank": generator.kind}, dropped=[], settings=settings, now=now,
                      blueprint=blueprint.to_json() if blueprint else None)


def reviewed_llm_items(session: Session, skill: str, level: str) -> list[dict[str, Any]]:
    """The items of published LLM drafts of a skill and level whose review approved them (first copy of each id)."""
    found: dict[str, dict[str, Any]] = {}
    query = (
        select(Assessment)
        .where(Assessment.generator == "llm", Assessment.skill == skill, Assessment.level == level,
               Assessment.status != "draft")
        .order_by(Assessment.published_at, Assessment.id)
    )
    for assessment in session.scalars(query):
        if not review.reviewed(session, assessment):
            continue
        for item in assessment.items:
            if not item.get("pretest"):
                found.setdefault(item["id"], {key: value for key, value in item.items() if key != "calibration"})
    return list(found.values())


def retake_policy(body: AssessmentCreate, settings: Settings) -> dict[str, Any]:
    """max_attempts and retake_cooldown_seconds: as asked, else the service defaults (explicit null: no cap)."""
    if "max_attempts" in body.model_fields_set:
        max_attempts = body.max_attempts
    else:
        max_attempts = settings.default_max_attempts or None
    cooldown = body.retake_cooldown_seconds
    if cooldown is None:
        cooldown = settings.default_retake_cooldown_seconds
    return {"max_attempts": max_attempts, "retake_cooldown_seconds": cooldown}


def rubric_for(body: AssessmentCreate) -> dict[str, Any]:
    """The scoring rules an assessment is frozen with."""
    return {
        "version": grading.RUBRIC_VERSION,
        "pass_percent": body.pass_percent,
        "multiple_response": body.multiple_response_scoring,
        "ordering": body.ordering_scoring,
        "numeric": "absolute_or_relative_tolerance",
        "short_text": "normalised_exact_or_pattern",
        "matching": "per_pair",
        "mastery_bands": (
            [band.model_dump() for band in body.mastery_bands]
            if body.mastery_bands is not None
            else [{"name": name, "min_percent": minimum} for name, minimum in grading.DEFAULT_MASTERY_BANDS]
        ),
        "credential_valid_days": body.credential_valid_days,
    }


def new_draft(
    session: Session, body: AssessmentCreate, *, skill_id: str, skill_name: str, skill_description: str,
    items: list[dict[str, Any]], seed: int, generator_name: str, provenance: dict[str, Any] | None,
    dropped: list[dict[str, Any]], settings: Settings, now: dt.datetime, blueprint: dict[str, Any] | None = None,
) -> Assessment:
    """A draft; a `blueprint` is frozen into its rubric, so its attempts draw by it for good."""
    rubric = rubric_for(body)
    if blueprint is not None:
        rubric["blueprint"] = blueprint
    assessment = Assessment(
        skill=skill_id,
        skill_name=skill_name,
        skill_description=skill_description,
        level=body.level,
        title=body.title or f"{skill_name}: {body.level}",
        status="draft",
        generator=generator_name,
        seed=seed,
        time_limit_seconds=body.time_limit_seconds or settings.default_time_limit_seconds,
        pass_percent=body.pass_percent,
        items=items,
        rubric=rubric,
        content_hash=None,
        created_at=now,
        attempt_item_count=body.attempt_item_count,
        **retake_policy(body, settings),
        version=1,
        provenance=provenance,
        dropped_items=dropped,
    )
    session.add(assessment)
    session.flush()
    return assessment
def get_assessment(session: Session, assessment_id: str, principal: Principal) -> Assessment:
    """Admins see drafts too; learners published and superseded ones (credentials still name those)."""
    assessment = session.get(Assessment, assessment_id)
    if assessment is None or (assessment.status == "draft" and not principal.is_admin):
        raise NotFound("No such assessment.")
    return assessment


def get_published(session: Session, assessment_id: str) -> Assessment:
    """A published or superseded assessment, for anyone (the evidence credentials name); drafts stay hidden."""
    assessment = session.get(Assessment, assessment_id)
    if assessment is None or assessment.status == "draft":
        raise NotFound("No such assessment.")
    return assessment


def list_assessments(session: Session, principal: Principal, status: str | None) -> list[Assessment]:
    query = select(Assessment).order_by(Assessment.created_at, Assessment.id)
    if not principal.is_admin:
        query = query.where(Assessment.status == "published")
    elif status:
        query = query.where(Assessment.status == status)
    return list(session.scalars(query))


PRECISION_FORMS = 32  # seeded draws a pooled design's precision is averaged over (seeds 0..31)


def precision_design(
    assessment: Assessment, difficulties: Mapping[str, float] | None = None
) -> precision_model.Design:
    """The design as the precision model sees it: the pool, the forms an attempt draws, the pass mark.

    `difficulties` (item id -> Rasch difficulty in logits) is where a calibration feeds in; without it
    every item has the same facility."""
    # Pretest items ride along unscored (calibration/pretest.py): the pass rests on the scored items alone.
    scored = [item for item in assessment.items if not item.get("pretest")]
    known = frozen_difficulties(scored) if difficulties is None else difficulties
    pool = tuple(precision_model.Item(item["id"], int(item["points"]), known.get(item["id"])) for item in scored)
    count = assessment.attempt_item_count
    if count is None or count >= len(pool):
        forms: tuple[tuple[str, ...], ...] = (tuple(item.item_id for item in pool),)
    else:
        blueprint = assessment.rubric.get("blueprint")
        forms = tuple(
            tuple(freeze.draw_items(scored, count, seed, (), blueprint)) for seed in range(PRECISION_FORMS)
        )
    return precision_model.Design(pool=pool, forms=forms, pass_percent=assessment.pass_percent)


def frozen_difficulties(items: list[dict[str, Any]]) -> dict[str, float]:
    """The Rasch difficulties frozen into the items, when every one carries a calibration on one scale."""
    calibrations = [item.get("calibration") for item in items]
    if not items or not all(isinstance(entry, dict) for entry in calibrations):
        return {}
    if len({entry["scale"] for entry in calibrations if isinstance(entry, dict)}) != 1:
        return {}
    return {item["id"]: float(item["calibration"]["difficulty"]) for item in items}


def precision_of(
    assessment: Assessment, settings: Settings, difficulties: Mapping[str, float] | None = None
) -> precision_model.Precision:
    """The design's precision at its pass mark under the configured rule."""
    return precision_model.assess(
        precision_design(assessment, difficulties),
        margin=settings.precision_margin_points, max_pass_below_cut=settings.max_pass_below_cut,
    )


def precision_refusal(stated: precision_model.Precision) -> str:
    """The 422 detail: the figures, the rule and the attempt length that would meet it."""
    below = max(0.0, stated.pass_percent - stated.margin_points)
    fix = (
        f"attempts of at least {stated.minimum_attempt_length} items would meet it"
        if stated.minimum_attempt_length is not None
        else f"no attempt length up to {precision_model.MAX_ATTEMPT_ITEMS} items meets it at this pass mark"
    )
    return (
        f"Too imprecise to publish: a candidate {stated.margin_points:g} points below the pass mark (true score "
        f"{below:g}%) would pass an attempt of {stated.attempt_length} items {stated.pass_below_cut:.1%} of the "
        f"time; the most allowed is {stated.max_pass_below_cut:.0%} (SKILLPROOF_MAX_PASS_BELOW_CUT). With the "
        f"same mix of item points, {fix}."
    )


def publish(session: Session, assessment: Assessment, now: dt.datetime, settings: Settings) -> Assessment:
    """Freeze: compute the content hash and the precision; a published assessment never changes.

    With the precision gate on, a design below the rule is refused (422 insufficient_precision)."""
    if assessment.status == "published":
        raise Conflict("The assessment is already published.", code="already_published")
    stated = precision_of(assessment, settings)
    if not stated.meets_rule and settings.precision_gate == "on":
        raise InsufficientPrecision(precision_refusal(stated), stated.to_json())
    assessment.precision = stated.to_json()
    assessment.content_hash = freeze.content_hash(assessment.items, assessment.rubric)
    assessment.status = "published"
    assessment.published_at = now
    session.flush()
    return assessment


SEEN_ATTEMPTS = 50  # how far back a retake looks for items already shown (the pool is used up long before)
# Hot statements, built once (executing the same object again reuses its compiled form and cache key).
_MY_ATTEMPTS = (
    Attempt.assessment_id == bindparam("assessment_id"), Attempt.learner_id == bindparam("learner_id")
)
_RECENT_ATTEMPTS = (  # only the columns used: no ORM objects
    select(Attempt.id, Attempt.item_ids, Attempt.started_at, Attempt.expires_at)
    .where(*_MY_ATTEMPTS).order_by(Attempt.started_at.desc(), Attempt.id.desc()).limit(SEEN_ATTEMPTS)
)
_ATTEMPT_COUNT = select(func.count()).select_from(Attempt).where(*_MY_ATTEMPTS)
_GRADE_OF = select(Grade).where(Grade.attempt_id == bindparam("attempt_id"))
_INSERT_GRADE = {
    dialect: insert_for(Grade).on_conflict_do_nothing(index_elements=["attempt_id"]).returning(Grade.id)
    for dialect, insert_for in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_STORE_RESPONSE = update(Grade).where(Grade.id == bindparam("grade_id")).values(
    response_body=bindparam("response_body")
)
_VOIDED_ITEMS = select(Amendment.item_id).where(Amendment.assessment_id == bindparam("assessment_id"))


def _check_retake_policy(
    session: Session, assessment: Assessment, count: int, last: Any | None, now: dt.datetime
) -> None:
    """`last`: the learner's latest attempt (a row with id, started_at and expires_at), None if none."""
    if assessment.max_attempts is not None and count >= assessment.max_attempts:
        raise Conflict(
            f"All {assessment.max_attempts} allowed attempts on this assessment are used.", code="attempts_exhausted"
        )
    if last is None or not assessment.retake_cooldown_seconds:
        return
    grade = grade_of(session, last.id)
    ended = grade.graded_at if grade is not None else min(last.expires_at, max(last.started_at, now))
    ready_at = ended + dt.timedelta(seconds=assessment.retake_cooldown_seconds)
    if now < ready_at:
        wait = math.ceil((ready_at - now).total_seconds())
        raise Conflict(
            f"A retake is possible from {ready_at.isoformat()} ({wait} s from now).",
            code="retake_cooldown",
            headers={"Retry-After": str(wait)},
        )


def new_item_aliases(count: int) -> list[str]:
    """Random, distinct item ids for one attempt: they tell nothing about the assessment's own item ids."""
    aliases: list[str] = []
    while len(aliases) < count:
        alias = "i" + secrets.token_hex(8)
        if alias not in aliases:
            aliases.append(alias)
    return aliases


def aliases_of(attempt: Attempt) -> dict[str, str] | None:
    """Assessment item id -> the attempt's opaque id (None for attempts made before opaque ids)."""
    if attempt.item_aliases is None or attempt.item_ids is None:
        return None
    return dict(zip(attempt.item_ids, attempt.item_aliases, strict=True))


def start_attempt(
    session: Session, assessment: Assessment, learner_id: str, now: dt.datetime, *, pretest_max_share: float = 0.2
) -> Attempt:
    """Start an attempt under the retake policy, drawing items the learner has not seen while the pool allows."""
    if assessment.status == "superseded":
        raise Conflict("A newer version of this assessment replaces it.", code="assessment_superseded")
    if assessment.status != "published":
        raise NotFound("No such assessment.")
    mine = {"assessment_id": assessment.id, "learner_id": learner_id}
    # The count is asked only when the window of recent attempts is full.
    recent = session.execute(_RECENT_ATTEMPTS, mine).all()
    count = len(recent)
    if count >= SEEN_ATTEMPTS:
        count = session.scalar(_ATTEMPT_COUNT, mine) or 0
    _check_retake_policy(session, assessment, count, recent[0] if recent else None, now)
    attempts_ago: dict[str, int] = {}
    for position, earlier in enumerate(recent, start=1):
        for item_id in earlier.item_ids or []:
            attempts_ago.setdefault(item_id, position)
    seed = secrets.randbelow(2**31)
    item_ids = pretest.draw_attempt(
        assessment.items, assessment.attempt_item_count, seed, attempts_ago, pretest_max_share,
        assessment.rubric.get("blueprint"),
    )
    attempt = Attempt(
        id=new_id(),
        assessment_id=assessment.id,
        learner_id=learner_id,
        seed=seed,
        item_ids=item_ids,
        item_aliases=new_item_aliases(len(item_ids)),
        attempt_number=count + 1,
        started_at=now,
        expires_at=now + dt.timedelta(seconds=assessment.time_limit_seconds),
    )
    try:
        # One Core INSERT (the object stays out of the session); no savepoint: a conflict ends the request,
        # and its transaction is rolled back whole.
        session.connection().execute(
            insert(Attempt), {column.key: getattr(attempt, column.key) for column in Attempt.__table__.columns}
        )
    except IntegrityError:
        raise Conflict("Another attempt was started at the same moment; try again.", code="attempt_conflict") from None
    return attempt


def get_attempt(session: Session, attempt_id: str, principal: Principal) -> Attempt:
    """The attempt if the caller owns it or is an admin; 404 otherwise (never reveal it exists)."""
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or (not principal.is_admin and attempt.learner_id != principal.learner_id):
        raise NotFound("No such attempt.")
    return attempt


def grade_of(session: Session, attempt_id: str) -> Grade | None:
    return session.scalars(_GRADE_OF, {"attempt_id": attempt_id}).first()


def graded_item_scores(session: Session, assessment_id: str) -> list[list[dict[str, Any]]]:
    """The item scores of every graded attempt on an assessment."""
    rows = session.scalars(
        select(Grade.item_scores).join(Attempt, Attempt.id == Grade.attempt_id).where(
            Attempt.assessment_id == assessment_id
        )
    )
    return [list(scores) for scores in rows]


def first_attempt_item_scores(session: Session, assessment_id: str) -> list[list[dict[str, Any]]]:
    """The item scores of every graded first attempt (attempt_number 1) on an assessment: retakes are left
    out, since a learner who has seen the items answers them differently."""
    rows = session.scalars(
        select(Grade.item_scores).join(Attempt, Attempt.id == Grade.attempt_id).where(
            Attempt.assessment_id == assessment_id, Attempt.attempt_number == 1
        )
    )
    return [list(scores) for scores in rows]


def grade_json(
    grade: Grade, credential_id: str | None, *, amended: bool = False, items: list[dict[str, Any]] | None = None,
    criteria: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A grade as the API shows it; `items` (per-item scores) only where the viewer may see them."""
    body: dict[str, Any] = {
        "attempt_id": grade.attempt_id,
        "status": "graded",
        "score": grade.score,
        "max_score": grade.max_score,
        "percent": grade.percent,
        "passed": grade.passed,
        "mastery": grade.mastery,
        "criteria": (grade.criteria or []) if criteria is None else criteria,
        "credential_id": credential_id,
        "graded_at": grade.graded_at.isoformat().replace("+00:00", "Z"),
        "amended": amended,
    }
    if items is not None:
        body["items"] = items
    if grade.ability is not None:
        body["ability"] = grade.ability
    return body


def item_scores_view(grade: Grade, attempt: Attempt, *, admin: bool) -> list[dict[str, Any]]:
    """Per-item scores under the attempt's own item ids; admins also get the assessment's item ids."""
    aliases = aliases_of(attempt) or {}
    return [
        {
            "item_id": aliases.get(entry["item_id"], entry["item_id"]),
            "score": entry["score"],
            "max_score": entry["max_score"],
            **({"bank_item_id": entry["item_id"]} if admin else {}),
            **({"run": entry["run"]} if admin and "run" in entry else {}),
        }
        for entry in grade.item_scores
        if admin or entry["max_score"]  # a learner is never told which items were pretest (scored 0 of 0)
    ]


def learner_sees_items(
    session: Session, settings: Settings, assessment: Assessment, learner_id: str, now: dt.datetime
) -> bool:
    """Per-item feedback only where the setting allows it, and only once every allowed attempt is over."""
    if settings.learner_item_feedback != "after_final_attempt" or assessment.max_attempts is None:
        return False
    rows = session.execute(
        select(Attempt.expires_at, Grade.id)
        .outerjoin(Grade, Grade.attempt_id == Attempt.id)
        .where(Attempt.assessment_id == assessment.id, Attempt.learner_id == learner_id)
    ).all()
    over = all(grade_id is not None or now > expires_at for expires_at, grade_id in rows)
    return len(rows) >= assessment.max_attempts and over


def voided_items(session: Session, assessment_id: str) -> list[str]:
    """Items of an assessment voided by amendments, sorted."""
    return sorted(session.scalars(_VOIDED_ITEMS, {"assessment_id": assessment_id}))


def grade_view(
    session: Session, settings: Settings, assessment: Assessment, attempt: Attempt, grade: Grade,
    credential_id: str | None, now: dt.datetime, *, admin: bool, amended: bool = False,
) -> dict[str, Any]:
    """The grade for an admin (every result), or for its learner (no single item's result unless allowed)."""
    if admin:
        return grade_json(grade, credential_id, amended=amended, items=item_scores_view(grade, attempt, admin=True))
    if learner_sees_items(session, settings, assessment, attempt.learner_id, now):
        return grade_json(grade, credential_id, amended=amended, items=item_scores_view(grade, attempt, admin=False))
    scored = [item for item in freeze.attempt_items(assessment.items, attempt.item_ids) if not grading.is_pretest(item)]
    criteria = freeze.learner_criteria(grade.criteria or [], scored, grade.voided_items or ())
    return grade_json(grade, credential_id, amended=amended, criteria=criteria)


def attempt_json(
    session: Session, attempt: Attempt, assessment: Assessment, now: dt.datetime, *, admin: bool, settings: Settings,
    just_started: bool = False,
) -> dict[str, Any]:
    """The attempt under its opaque item ids; admins also see keys and per-item scores."""
    grade = None if just_started else grade_of(session, attempt.id)
    if grade is not None:
        status = "graded"
        credential_id = session.scalar(select(Credential.id).where(Credential.attempt_id == attempt.id))
        amended = session.scalar(select(GradeRevision.id).where(GradeRevision.grade_id == grade.id).limit(1))
        grade_body: dict[str, Any] | None = grade_view(
            session, settings, assessment, attempt, grade, credential_id, now, admin=admin, amended=amended is not None
        )
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
        "items": freeze.present(
            freeze.attempt_items(assessment.items, attempt.item_ids), attempt.seed, aliases_of(attempt),
            with_keys=admin,
        ),
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
    runs: Mapping[str, TaskResult] | None = None,
) -> bytes:
    """Grade once and, on a pass, issue the credential; returns the exact response body bytes. `runs`: the
    performance tasks already run in the grading pool (app/assessments/pregrade.py)."""
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
    voided = voided_items(session, assessment.id)
    items = freeze.attempt_items(assessment.items, attempt.item_ids)
    aliases = aliases_of(attempt)
    graded_voided = voided
    if aliases is not None:
        # Graded under the attempt's own ids (so errors name only those), stored under the assessment's.
        items = [{**item, "id": aliases[item["id"]]} for item in items]
        graded_voided = [aliases[item_id] for item_id in voided if item_id in aliases]
    try:
        result = grading.grade(items, assessment.rubric, responses, voided=graded_voided, runs=runs)
    except grading.ResponseError as exc:
        raise Unprocessable(str(exc), code="invalid_response") from None
    scores = result.to_json()
    if aliases is not None:
        item_of = {alias: item_id for item_id, alias in aliases.items()}
        responses = [{**response, "item_id": item_of[response["item_id"]]} for response in responses]
        scores["items"] = [{**entry, "item_id": item_of[entry["item_id"]]} for entry in scores["items"]]
    grade = Grade(
        id=new_id(),
        attempt_id=attempt.id,
        responses=responses,
        voided_items=voided,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        response_body="",
        graded_at=now,
    )
    grade.set_result(scores)
    # One INSERT .. ON CONFLICT DO NOTHING (no savepoint, no unit of work): nothing inserted means a
    # concurrent submit graded it first (the unique attempt_id said so). The object stays out of the session.
    connection = session.connection()
    inserted = connection.execute(
        _INSERT_GRADE[connection.dialect.name],
        {column.key: getattr(grade, column.key) for column in Grade.__table__.columns},
    ).scalar_one_or_none()
    if inserted is None:
        winner = grade_of(session, attempt.id)
        if winner is None:
            raise Conflict("Another submit of this attempt is under way; try again.", code="already_submitted")
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
    view = grade_view(session, settings, assessment, attempt, grade, credential_id, now, admin=False)
    body = json.dumps(view, separators=(",", ":"))
    grade.response_body = body
    connection.execute(_STORE_RESPONSE, {"grade_id": grade.id, "response_body": body})
    return body.encode()
