"""Grading records: all a third party needs to re-run one grade without our database (`skillproof regrade
--export` writes one, `--record` checks it): the frozen assessment as hashed, the attempt's draw, the stored
responses and the stored grade. Pure but for running performance tasks: no database, clock or settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.assessments import freeze
from app.grading import rubric as grading

RECORD_FORMAT = "skillproof-grading-record/1"


@dataclass(frozen=True)
class CheckReport:
    checked: int
    mismatches: list[str]
    # Performance tasks graded by another SQLite version than this machine's (their scores are still compared).
    engines: list[str] = field(default_factory=list)


def _without_engine(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    """Item scores with the engine of each run set aside: the scores and reasons are compared, the version noted."""
    engines = {str(item["run"]["engine"]) for item in items if isinstance(item.get("run"), dict)}
    return [
        {**item, "run": {k: v for k, v in item["run"].items() if k != "engine"}} if isinstance(item.get("run"), dict)
        else item
        for item in items
    ], engines


def compare(stored: dict[str, Any], result: dict[str, Any], expected_passed: bool) -> tuple[list[str], set[str]]:
    """The fields of a stored grade that a re-run does not reproduce, and the engines of runs made elsewhere."""
    stored = dict(stored)
    recomputed: dict[str, Any] = {**{key: result.get(key) for key in stored}, "passed": expected_passed}
    stored["items"], stored_engines = _without_engine(list(stored["items"] or []))
    recomputed["items"], here = _without_engine(list(recomputed["items"] or []))
    notes = {f"graded with {engine}, re-graded with {', '.join(sorted(here))}" for engine in stored_engines - here}
    return sorted(key for key in stored if stored[key] != recomputed[key]), notes



def check_record(record: dict[str, Any]) -> CheckReport:
    """Re-grade a grading record: its items must hash to its content hash (the one the credential's evidence
    names), and grading them must reproduce the stored grade field by field."""
    label = f"attempt {record.get('attempt_id')}"
    if record.get("format") != RECORD_FORMAT:
        return CheckReport(checked=0, mismatches=[f"{label}: not a {RECORD_FORMAT} record"], engines=[])
    try:
        if freeze.content_hash(record["items"], record["rubric"]) != record["content_hash"]:
            return CheckReport(checked=1, mismatches=[f"{label}: the items do not hash to the content hash"])
        result = grading.grade(
            freeze.attempt_items(record["items"], record["attempt_item_ids"]), record["rubric"],
            record["responses"], voided=record["voided"],
        ).to_json()
    except (KeyError, TypeError, ValueError) as exc:  # grading.ResponseError is a ValueError
        return CheckReport(checked=1, mismatches=[f"{label}: the record cannot be graded ({exc!r})"])
    differing, notes = compare(record["grade"], result, result["passed"] or bool(record["passed_before"]))
    return CheckReport(
        checked=1, mismatches=[f"{label}: {', '.join(differing)} differ"] if differing else [],
        engines=sorted(f"{label}: {note}" for note in notes),
    )
