"""Calibration runs: statistics from first attempts, automatic quarantine, Rasch fits; what drafts freeze."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.assessments import freeze
from app.assessments.models import Assessment, Attempt, Grade
from app.calibration import itemstats, rasch
from app.calibration.models import ItemCalibration, ItemReview
from app.config import Settings
from app.errors import NotFound


def first_attempts(
    session: Session, skill: str | None = None, level: str | None = None
) -> list[itemstats.FirstAttempt]:
    """Every graded first attempt (attempt_number 1; retakes never count), optionally of one skill and level."""
    query = (
        select(Attempt.learner_id, Attempt.started_at, Attempt.item_ids, Attempt.assessment_id,
               Grade.responses, Grade.voided_items)
        .join(Grade, Grade.attempt_id == Attempt.id)
        .where(Attempt.attempt_number == 1)
        .order_by(Attempt.started_at, Attempt.id)
    )
    if skill is not None or level is not None:
        query = query.join(Assessment, Assessment.id == Attempt.assessment_id)
        if skill is not None:
            query = query.where(Assessment.skill == skill)
        if level is not None:
            query = query.where(Assessment.level == level)
    assessments: dict[str, Assessment] = {}
    found = []
    for learner_id, started_at, item_ids, assessment_id, responses, voided in session.execute(query):
        assessment = assessments.get(assessment_id)
        if assessment is None:
            assessment = assessments[assessment_id] = session.get_one(Assessment, assessment_id)
        found.append(itemstats.FirstAttempt(
            learner_id=learner_id, started_at=started_at, skill=assessment.skill, level=assessment.level,
            items=freeze.attempt_items(assessment.items, item_ids), rubric=assessment.rubric,
            answers={response["item_id"]: response["answer"] for response in responses},
            voided=frozenset(voided or ()),
        ))
    return found


def bounds_of(settings: Settings) -> itemstats.QuarantineBounds:
    return itemstats.QuarantineBounds(
        min_responses=settings.quarantine_min_responses,
        facility_min=settings.quarantine_facility_min,
        facility_max=settings.quarantine_facility_max,
        discrimination_min=settings.quarantine_min_discrimination,
        distractor_discrimination_max=settings.quarantine_distractor_discrimination,
    )


@dataclass
class GroupReport:
    skill: str
    level: str
    items: int = 0
    quarantined: list[str] = field(default_factory=list)
    calibrated: int = 0
    persons: int = 0
    ability_sd: float | None = None
    scale: str | None = None
    error: str | None = None


def _review(session: Session, stats: itemstats.BankItemStatistics, reasons: list[str], now: dt.datetime) -> bool:
    """Store an item's figures; quarantine it when there are reasons (unless released since, with too few new
    responses to look again). True when it is quarantined now."""
    review = session.get(ItemReview, stats.item_id)
    if review is None:
        review = ItemReview(item_id=stats.item_id, quarantined=False, reasons=[])
        session.add(review)
    review.skill, review.level, review.responses = stats.skill, stats.level, stats.responses
    review.figures, review.updated_at = stats.to_json(), now
    if review.released_responses is not None and stats.responses < 2 * review.released_responses:
        reasons = []  # reviewed and released: looked at again once its responses have doubled
    if reasons and not review.quarantined:
        review.quarantined, review.reasons, review.quarantined_at = True, reasons, now
    elif review.quarantined:
        review.reasons = reasons or review.reasons
    return review.quarantined


def run(session: Session, settings: Settings, now: dt.datetime, skill: str | None = None,
        level: str | None = None) -> list[GroupReport]:
    """Statistics, quarantine and a Rasch fit per skill and level; replaces that group's calibrations."""
    attempts = first_attempts(session, skill, level)
    bounds = bounds_of(settings)
    groups: dict[tuple[str, str], list[itemstats.FirstAttempt]] = {}
    for attempt in attempts:
        groups.setdefault((attempt.skill, attempt.level), []).append(attempt)
    reports = []
    for (group_skill, group_level), group in sorted(groups.items()):
        report = GroupReport(skill=group_skill, level=group_level)
        observed = itemstats.observations(group)
        statistics = itemstats.item_bank_statistics(group)
        report.items = len(statistics)
        fit_ids = []
        for stats in statistics:
            if _review(session, stats, itemstats.quarantine_reasons(stats, bounds), now):
                report.quarantined.append(stats.item_id)
            elif (stats.responses >= settings.calibration_min_responses
                  and stats.facility is not None and 0 < stats.facility < 1):
                fit_ids.append(stats.item_id)
        persons: dict[str, dict[str, int]] = {}
        for item_id in fit_ids:
            for obs in observed[item_id][2]:
                persons.setdefault(obs.learner_id, {})[item_id] = obs.right
        session.execute(delete(ItemCalibration).where(
            ItemCalibration.skill == group_skill, ItemCalibration.level == group_level))
        if fit_ids:
            try:
                result = rasch.fit(list(persons.values()), fit_ids)
            except rasch.CalibrationError as exc:
                report.error = str(exc)
            else:
                scale = f"rasch:{group_skill}/{group_level}@{now.isoformat().replace('+00:00', 'Z')}"
                session.add_all(
                    ItemCalibration(item_id=item.item_id, skill=group_skill, level=group_level,
                                    difficulty=item.difficulty, se=item.se, n=item.responses, scale=scale,
                                    fitted_at=now, model=result.model)
                    for item in result.items
                )
                report.calibrated, report.persons = len(result.items), result.persons
                report.ability_sd, report.scale = result.ability_sd, scale
        reports.append(report)
    session.flush()
    return reports


@dataclass(frozen=True)
class DraftState:
    """What a draft of one skill and level needs: items to leave out, items established, calibrations."""

    quarantined: frozenset[str]
    established: frozenset[str]
    calibrations: dict[str, dict[str, Any]]

    def is_new(self, item_id: str) -> bool:
        return item_id not in self.established


def draft_state(session: Session, skill: str, level: str, settings: Settings) -> DraftState:
    reviews = session.execute(
        select(ItemReview.item_id, ItemReview.quarantined, ItemReview.responses)
        .where(ItemReview.skill == skill, ItemReview.level == level)
    ).all()
    calibrations = {
        row.item_id: {"difficulty": row.difficulty, "se": row.se, "scale": row.scale}
        for row in session.scalars(
            select(ItemCalibration).where(ItemCalibration.skill == skill, ItemCalibration.level == level)
        )
    }
    established = {item_id for item_id, _, responses in reviews if responses >= settings.pretest_responses}
    return DraftState(
        quarantined=frozenset(item_id for item_id, quarantined, _ in reviews if quarantined),
        established=frozenset(established | set(calibrations)),
        calibrations=calibrations,
    )


def quarantined(session: Session) -> list[ItemReview]:
    return list(session.scalars(
        select(ItemReview).where(ItemReview.quarantined.is_(True)).order_by(ItemReview.skill, ItemReview.item_id)
    ))


def release(session: Session, item_id: str, note: str, now: dt.datetime) -> ItemReview:
    """An admin's release after review: the item is drawn again."""
    review = session.get(ItemReview, item_id)
    if review is None or not review.quarantined:
        raise NotFound("No such quarantined item.")
    review.quarantined, review.released_at, review.release_note = False, now, note
    review.released_responses = review.responses
    session.flush()
    return review


def calibrations(session: Session, skill: str | None = None) -> Iterable[ItemCalibration]:
    query = select(ItemCalibration).order_by(ItemCalibration.skill, ItemCalibration.level, ItemCalibration.item_id)
    if skill is not None:
        query = query.where(ItemCalibration.skill == skill)
    return list(session.scalars(query))
