"""Deterministic grading: a pure function of (frozen items, rubric, responses) -> Grade.

Scoring rules (also in the README):
- single_choice: full points when the chosen option is the key, else 0.
- multiple_response ("right_minus_wrong"): points x max(0, (keys chosen - non-keys chosen) / number of keys).
- numeric: full points when |answer - key| <= max(absolute, relative x |key|), computed in exact decimals
  from the numbers' shortest representations, else 0.
- An item with no response scores 0. Passing: score / max_score x 100 >= pass_percent (exact arithmetic).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

RUBRIC_VERSION = 1
MULTIPLE_RESPONSE_MODES = frozenset({"right_minus_wrong"})


class ResponseError(ValueError):
    """A response that cannot be graded: unknown item, wrong shape, duplicate."""


@dataclass(frozen=True)
class ItemScore:
    item_id: str
    score: Fraction
    max_score: Fraction


@dataclass(frozen=True)
class Grade:
    score: Fraction
    max_score: Fraction
    passed: bool
    items: tuple[ItemScore, ...]

    @property
    def percent(self) -> float:
        """Percent of the maximum, rounded to two decimals (half-even, deterministic)."""
        if self.max_score == 0:
            return 0.0
        return round(float(self.score / self.max_score * 100), 2)

    def to_json(self) -> dict[str, Any]:
        """Numbers as floats rounded to 4 decimals, the form the API returns."""
        return {
            "score": _number(self.score),
            "max_score": _number(self.max_score),
            "percent": self.percent,
            "passed": self.passed,
            "items": [
                {"item_id": item.item_id, "score": _number(item.score), "max_score": _number(item.max_score)}
                for item in self.items
            ],
        }


def _number(value: Fraction) -> float | int:
    if value.denominator == 1:
        return int(value)
    return round(float(value), 4)


def _decimal(value: float | int) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_answer_shape(item: Mapping[str, Any], answer: object) -> None:
    """Raise ResponseError unless `answer` has the shape the item's type takes."""
    item_id = item["id"]
    kind = item["type"]
    option_ids = {option["id"] for option in item.get("options", [])}
    if kind == "single_choice":
        if not isinstance(answer, str) or answer not in option_ids:
            raise ResponseError(f"item {item_id}: answer must be one of the item's option ids")
    elif kind == "multiple_response":
        if not isinstance(answer, list) or not all(isinstance(choice, str) for choice in answer):
            raise ResponseError(f"item {item_id}: answer must be a list of option ids")
        if len(set(answer)) != len(answer):
            raise ResponseError(f"item {item_id}: an option id is listed twice")
        if not set(answer) <= option_ids:
            raise ResponseError(f"item {item_id}: answer names an option the item does not have")
    elif kind == "numeric":
        if not _is_number(answer):
            raise ResponseError(f"item {item_id}: answer must be a finite number")
    else:
        raise ResponseError(f"item {item_id}: unsupported item type {kind!r}")


def collect_responses(
    items: Sequence[Mapping[str, Any]], responses: Sequence[Mapping[str, Any]]
) -> dict[str, object]:
    """Map item id -> answer, refusing unknown ids, duplicates and wrong shapes."""
    by_id = {item["id"]: item for item in items}
    answers: dict[str, object] = {}
    for response in responses:
        item_id = response.get("item_id")
        if not isinstance(item_id, str) or item_id not in by_id:
            raise ResponseError(f"unknown item id {item_id!r}")
        if item_id in answers:
            raise ResponseError(f"item {item_id}: more than one response")
        if "answer" not in response:
            raise ResponseError(f"item {item_id}: response has no answer")
        check_answer_shape(by_id[item_id], response["answer"])
        answers[item_id] = response["answer"]
    return answers


def score_item(item: Mapping[str, Any], answer: object, rubric: Mapping[str, Any]) -> Fraction:
    """Points earned on one item (answer already shape-checked; None means unanswered)."""
    points = Fraction(item["points"])
    if answer is None:
        return Fraction(0)
    kind = item["type"]
    if kind == "single_choice":
        return points if answer == item["answer"] else Fraction(0)
    if kind == "multiple_response":
        assert isinstance(answer, list)
        keys = set(item["answer"])
        chosen = set(answer)
        right = len(chosen & keys)
        wrong = len(chosen - keys)
        return points * max(Fraction(0), Fraction(right - wrong, len(keys)))
    if kind == "numeric":
        assert isinstance(answer, int | float)
        key = _decimal(item["answer"])
        tolerance = item.get("tolerance", {})
        allowed = max(
            _decimal(tolerance.get("absolute", 0)), _decimal(tolerance.get("relative", 0)) * abs(key)
        )
        return points if abs(_decimal(answer) - key) <= allowed else Fraction(0)
    raise ResponseError(f"item {item['id']}: unsupported item type {kind!r}")


def grade(
    items: Sequence[Mapping[str, Any]], rubric: Mapping[str, Any], responses: Sequence[Mapping[str, Any]]
) -> Grade:
    """Grade responses against frozen items; raises ResponseError for ungradeable input."""
    mode = rubric.get("multiple_response", "right_minus_wrong")
    if mode not in MULTIPLE_RESPONSE_MODES:
        raise ResponseError(f"unsupported multiple_response scoring {mode!r}")
    answers = collect_responses(items, responses)
    scores = tuple(
        ItemScore(
            item_id=item["id"],
            score=score_item(item, answers.get(item["id"]), rubric),
            max_score=Fraction(item["points"]),
        )
        for item in items
    )
    total = sum((item.score for item in scores), Fraction(0))
    maximum = sum((item.max_score for item in scores), Fraction(0))
    pass_percent = Fraction(str(rubric["pass_percent"]))
    passed = maximum > 0 and total * 100 >= pass_percent * maximum
    return Grade(score=total, max_score=maximum, passed=passed, items=scores)
