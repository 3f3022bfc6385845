"""Admin endpoints of the item bank: statistics across assessments, calibration runs, quarantine."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Query

from app.calibration import itemstats, service
from app.calibration.schemas import (
    BankItemStatisticsOut,
    CalibrationGroupOut,
    CalibrationOut,
    CalibrationRequest,
    QuarantinedItemOut,
    ReleasedItemOut,
    ReleaseRequest,
)
from app.deps import AdminOnly, AuditDep, ClockDep, SessionDep, SettingsDep
from app.errors import error_responses

router = APIRouter(tags=["item bank"])


@router.get("/v1/item-bank/statistics", response_model=list[BankItemStatisticsOut],
            responses=error_responses(401, 403))
def bank_statistics(
    _: AdminOnly, session: SessionDep,
    skill: str | None = Query(default=None, max_length=100), level: str | None = Query(default=None, max_length=100),
    item_id: str | None = Query(default=None, max_length=200),
) -> list[BankItemStatisticsOut]:
    """Per item across every assessment, from first attempts only (retakes excluded, one response per learner):
    facility, corrected point-biserial, and for choice items each option's choice rate and discrimination."""
    found = itemstats.item_bank_statistics(service.first_attempts(session, skill, level))
    return [BankItemStatisticsOut(**stats.to_json()) for stats in found if item_id is None or stats.item_id == item_id]


@router.get("/v1/item-bank/calibrations", response_model=list[CalibrationOut], responses=error_responses(401, 403))
def list_calibrations(
    _: AdminOnly, session: SessionDep, skill: str | None = Query(default=None, max_length=100)
) -> list[CalibrationOut]:
    """The current Rasch difficulties (one scale per skill and level, anchored at mean difficulty 0)."""
    return [CalibrationOut.model_validate(row) for row in service.calibrations(session, skill)]


@router.post("/v1/item-bank/calibrate", response_model=list[CalibrationGroupOut],
             responses=error_responses(401, 403, 422))
def calibrate(
    body: CalibrationRequest, _: AdminOnly, session: SessionDep, settings: SettingsDep, now: ClockDep,
    audit: AuditDep,
) -> list[CalibrationGroupOut]:
    """Run statistics, automatic quarantine and the Rasch fit (what `skillproof calibrate` runs)."""
    reports = service.run(session, settings, now, body.skill, body.level)
    audit.record("item_bank.calibrate", "item_bank", body.skill or "*",
                 details={"groups": len(reports), "calibrated": sum(report.calibrated for report in reports)})
    return [CalibrationGroupOut(**dataclasses.asdict(report)) for report in reports]


@router.get("/v1/item-bank/quarantine", response_model=list[QuarantinedItemOut], responses=error_responses(401, 403))
def list_quarantine(_: AdminOnly, session: SessionDep) -> list[QuarantinedItemOut]:
    """Items no new draft draws, with their figures and why, for review."""
    return [QuarantinedItemOut.model_validate(review) for review in service.quarantined(session)]


@router.post("/v1/item-bank/quarantine/{item_id}/release", response_model=ReleasedItemOut,
             responses=error_responses(401, 403, 404, 422))
def release_item(
    item_id: str, body: ReleaseRequest, _: AdminOnly, session: SessionDep, now: ClockDep, audit: AuditDep
) -> ReleasedItemOut:
    """Release a quarantined item after review: drafts draw it again."""
    review = service.release(session, item_id, body.note, now)
    audit.record("item_bank.release", "item", item_id, details={"note": body.note})
    return ReleasedItemOut.model_validate(review)
