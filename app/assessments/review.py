"""Reviewing drafts before publishing (edit, replace, add, drop items) and new versions of published ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.assessments import blueprints, freeze, rules
from app.assessments.generators.bank import option_id
from app.assessments.models import Assessment, AssessmentReview
from app.errors import Conflict, NotFound, Unprocessable
from app.grading import python_task, sql_task

# What a reviewer confirms before an LLM draft may be published (an approval needs every one).
REVIEW_CHECKLIST: dict[str, str] = {
    "keys_verified": "Every key was worked out or run independently and is correct.",
    "one_defensible_answer": "No distractor is also defensible; short-text and numeric keys accept every correct form.",
    "no_cues": "No length, grammar, word-repeat or absolute-word cue, and no item gives away another.",
    "level_fits": "Each item measures the skill at the assessment's level, not trivia or another skill.",
    "clear_and_fair": "Stems are clear, self-contained and free of bias, locale or culture-specific knowledge.",
    "explanations_correct": "Every explanation is correct and would teach a learner who got it wrong.",
}
REVIEW_DECISIONS = ("approved", "changes_requested")

EDITABLE_FIELDS = frozenset({
    "prompt", "options", "answer", "explanation", "points", "tolerance", "accepted_answers", "case_sensitive",
    "pattern", "scoring", "criteria", "difficulty", "enemies", "keep_order", "fixture", "variants", "compare",
    "runner", "function", "examples", "tests",
})


def _require_draft(assessment: Assessment) -> None:
    if assessment.status != "draft":
        raise Conflict(
            "A published assessment never changes; create a new version to change it.", code="assessment_frozen"
        )


def _with_option_ids(item: dict[str, Any]) -> dict[str, Any]:
    """Options given without ids get the same opaque ids the bank gives."""
    if isinstance(item.get("options"), list):
        item["options"] = [
            {**option, "id": option.get("id") or option_id(item["id"], str(option.get("text", "")))}
            if isinstance(option, dict) else option
            for option in item["options"]
        ]
    return item


def all_problems(items: list[dict[str, Any]]) -> dict[str, list[str]]:
    """item id -> reasons, for every item that fails the checks (rules, and no near-duplicates)."""
    found: dict[str, list[str]] = {}
    for position, item in enumerate(items):
        others = items[:position] + items[position + 1:]
        problems = rules.rule_problems(item, others)
        if problems:
            found[str(item.get("id"))] = problems
    return found


def _checked(item: dict[str, Any], others: list[dict[str, Any]]) -> dict[str, Any]:
    item = freeze.normalise_item(_with_option_ids(item))
    if item.get("type") == "sql_query":
        item["runner"] = {**sql_task.DEFAULT_RUNNER, **(item.get("runner") or {})}  # defaults frozen in the item
        item.setdefault("compare", {})
    if item.get("type") == "python_function":
        item["runner"] = {**python_task.DEFAULT_RUNNER, **(item.get("runner") or {})}
    problems, report = rules.new_item_report(item, others)
    if problems:
        raise Unprocessable(f"Item {item.get('id')} fails the checks: {'; '.join(problems)}", code="item_invalid")
    if "task_checks" in item and report is not None:  # a generated task's figures, as measured on the edited task
        item["task_checks"] = report.figures()
    return item


def _position(assessment: Assessment, item_id: str) -> int:
    for position, item in enumerate(assessment.items):
        if item["id"] == item_id:
            return position
    raise NotFound("No such item in this assessment.")


def edit_item(session: Session, assessment: Assessment, item_id: str, changes: dict[str, Any]) -> Assessment:
    """Change some fields of one draft item; the result must pass every check."""
    _require_draft(assessment)
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise Unprocessable(f"These fields cannot be edited: {sorted(unknown)}.", code="validation_error")
    position = _position(assessment, item_id)
    items = list(assessment.items)
    edited = {**items[position], **changes}
    items[position] = _checked(edited, items[:position] + items[position + 1:])
    assessment.items = items
    session.flush()
    return assessment


def replace_item(session: Session, assessment: Assessment, item_id: str, item: dict[str, Any]) -> Assessment:
    """Put a whole new item in place of one (its id stays)."""
    _require_draft(assessment)
    position = _position(assessment, item_id)
    items = list(assessment.items)
    items[position] = _checked({**item, "id": item_id}, items[:position] + items[position + 1:])
    assessment.items = items
    session.flush()
    return assessment


def add_item(session: Session, assessment: Assessment, item: dict[str, Any]) -> Assessment:
    _require_draft(assessment)
    if any(existing["id"] == item.get("id") for existing in assessment.items):
        raise Conflict("An item with this id exists; replace it instead.", code="item_exists")
    assessment.items = [*assessment.items, _checked(item, list(assessment.items))]
    session.flush()
    return assessment


def drop_item(session: Session, assessment: Assessment, item_id: str) -> Assessment:
    _require_draft(assessment)
    position = _position(assessment, item_id)
    remaining = assessment.items[:position] + assessment.items[position + 1:]
    if not remaining or (assessment.attempt_item_count or 0) > len(remaining):
        raise Conflict("Dropping this item would leave too few items for an attempt.", code="pool_too_small")
    assessment.items = remaining
    session.flush()
    return assessment


def refuse_invalid(assessment: Assessment) -> None:
    """Publishing refuses a draft whose items fail the rules."""
    problems = all_problems(assessment.items)
    if problems:
        listed = "; ".join(f"{item_id}: {', '.join(reasons)}" for item_id, reasons in sorted(problems.items()))
        raise Unprocessable(f"Items fail the checks: {listed}", code="items_invalid")
    graph = blueprints.enemy_graph(assessment.items)
    shown = assessment.attempt_item_count or len(assessment.items)
    if graph and blueprints.capacity(graph, graph) + len(assessment.items) - len(graph) < shown:
        pairs = sorted({tuple(sorted((item_id, other))) for item_id, others in graph.items() for other in others})
        raise Unprocessable(
            f"An attempt of {shown} items would have to show two enemies; drop one of "
            f"{', '.join(f'{a} / {b}' for a, b in pairs)} or draw fewer items per attempt.",
            code="enemies_together",
        )


def new_version(session: Session, source: Assessment, now: dt.datetime) -> Assessment:
    """A draft copy of a published assessment that will supersede it once published."""
    if source.status != "published":
        raise Conflict("Only the published version can be revised.", code="not_published")
    existing = session.scalar(select(Assessment.id).where(Assessment.supersedes_id == source.id))
    if existing is not None:
        raise Conflict(f"Version {existing} already revises this assessment.", code="version_exists")
    draft = Assessment(
        skill=source.skill, skill_name=source.skill_name, skill_description=source.skill_description,
        level=source.level, title=source.title, status="draft", generator=source.generator, seed=source.seed,
        time_limit_seconds=source.time_limit_seconds, pass_percent=source.pass_percent,
        items=[dict(item) for item in source.items], rubric=dict(source.rubric), content_hash=None,
        created_at=now, attempt_item_count=source.attempt_item_count, max_attempts=source.max_attempts,
        retake_cooldown_seconds=source.retake_cooldown_seconds, version=source.version + 1,
        supersedes_id=source.id, provenance=source.provenance, dropped_items=[],
    )
    try:
        with session.begin_nested():
            session.add(draft)
    except IntegrityError:
        raise Conflict("Another version of this assessment was created at the same moment.",
                       code="version_exists") from None
    return draft


def supersede_previous(session: Session, published: Assessment) -> None:
    """Publishing a new version retires the one it revises (old credentials keep naming the old one)."""
    if published.supersedes_id is None:
        return
    previous = session.get(Assessment, published.supersedes_id)
    if previous is not None and previous.status == "published":
        previous.status = "superseded"
        session.flush()


def items_hash(items: list[dict[str, Any]]) -> str:
    """SHA-256 of the items alone, as a review covers them."""
    return freeze.content_hash(items, {})


def record_review(
    session: Session, assessment: Assessment, *, reviewer: str, decision: str, checklist: dict[str, bool],
    notes: str | None, now: dt.datetime,
) -> AssessmentReview:
    """A person's review of a draft's current items; an approval needs every checklist point confirmed."""
    _require_draft(assessment)
    unknown = set(checklist) - set(REVIEW_CHECKLIST)
    if unknown:
        raise Unprocessable(f"Unknown checklist points: {sorted(unknown)}.", code="validation_error")
    if decision == "approved":
        unconfirmed = [point for point in REVIEW_CHECKLIST if checklist.get(point) is not True]
        if unconfirmed:
            raise Unprocessable(
                f"An approval confirms every checklist point; not confirmed: {', '.join(unconfirmed)}.",
                code="checklist_incomplete",
            )
    entry = AssessmentReview(
        assessment_id=assessment.id, reviewer=reviewer, decision=decision,
        checklist={point: bool(checklist.get(point, False)) for point in REVIEW_CHECKLIST}, notes=notes,
        items_hash=items_hash(assessment.items), reviewed_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def reviews_of(session: Session, assessment_id: str) -> list[AssessmentReview]:
    """Every review of an assessment, oldest first."""
    return list(session.scalars(
        select(AssessmentReview).where(AssessmentReview.assessment_id == assessment_id)
        .order_by(AssessmentReview.reviewed_at, AssessmentReview.id)
    ))


def current_approval(session: Session, assessment: Assessment) -> AssessmentReview | None:
    """The latest review, when it approves the items as they are now (an edit since makes it stale)."""
    reviews = reviews_of(session, assessment.id)
    if not reviews:
        return None
    latest = reviews[-1]
    return latest if latest.decision == "approved" and latest.items_hash == items_hash(assessment.items) else None


def reviewed(session: Session, assessment: Assessment) -> bool:
    """Whether a recorded review approves the items as they are; only LLM drafts are reviewed (no query else)."""
    return needs_review(assessment) and current_approval(session, assessment) is not None


def needs_review(assessment: Assessment) -> bool:
    """LLM-generated items are published only after a person has reviewed them."""
    return assessment.generator == "llm"


def refuse_unreviewed(session: Session, assessment: Assessment) -> None:
    """Publishing an LLM draft needs an approving review of its current items."""
    if needs_review(assessment) and current_approval(session, assessment) is None:
        raise Conflict(
            "LLM-generated items are published only after a recorded review approves them as they are now: "
            f"POST /v1/assessments/{assessment.id}/reviews.",
            code="review_required",
        )
