"""The pure grading rubric."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from app.grading.rubric import ResponseError, grade, score_item

RUBRIC = {"pass_percent": 70, "multiple_response": "right_minus_wrong"}
OPTIONS = [{"id": i, "text": i.upper()} for i in "abcde"]
SINGLE = {"id": "s", "type": "single_choice", "points": 1, "options": OPTIONS, "answer": "c"}
MULTI = {"id": "m", "type": "multiple_response", "points": 2, "options": OPTIONS, "answer": ["a", "b", "c"]}
NUMERIC = {"id": "n", "type": "numeric", "points": 1, "answer": 4.5, "tolerance": {"absolute": 0.1, "relative": 0}}
RELATIVE = {"id": "r", "type": "numeric", "points": 1, "answer": 200, "tolerance": {"absolute": 0, "relative": 0.05}}


@pytest.mark.parametrize(
    "chosen, expected",
    [
        (["a", "b", "c"], Fraction(2)),
        (["a", "b"], Fraction(4, 3)),
        (["a", "b", "c", "d"], Fraction(4, 3)),
        (["a", "d"], Fraction(0)),
        (["d", "e"], Fraction(0)),
        ([], Fraction(0)),
    ],
)
def test_multiple_response_is_right_minus_wrong_clamped_at_zero(chosen: list[str], expected: Fraction) -> None:
    assert score_item(MULTI, chosen, RUBRIC) == expected


@pytest.mark.parametrize(
    "item, answer, earned",
    [
        (NUMERIC, 4.5, 1), (NUMERIC, 4.6, 1), (NUMERIC, 4.4, 1), (NUMERIC, 4.61, 0), (NUMERIC, 4, 0),
        (RELATIVE, 210, 1), (RELATIVE, 190, 1), (RELATIVE, 210.5, 0), (RELATIVE, 189, 0),
    ],
)
def test_numeric_tolerances_are_exact_decimals(item: dict[str, Any], answer: float, earned: int) -> None:
    assert score_item(item, answer, RUBRIC) == earned


def test_grade_totals_percent_and_pass_threshold() -> None:
    items = [SINGLE, MULTI, NUMERIC]
    result = grade(items, RUBRIC, [{"item_id": "s", "answer": "c"}, {"item_id": "m", "answer": ["a", "b"]}])
    assert result.score == Fraction(7, 3) and result.max_score == 4
    assert result.percent == 58.33 and result.passed is False
    result = grade(items, RUBRIC, [{"item_id": "s", "answer": "c"}, {"item_id": "m", "answer": ["a", "b", "c"]}])
    assert result.percent == 75 and result.passed is True
    assert result.to_json()["items"] == [
        {"item_id": "s", "score": 1, "max_score": 1}, {"item_id": "m", "score": 2, "max_score": 2},
        {"item_id": "n", "score": 0, "max_score": 1},
    ]


def test_pass_threshold_is_inclusive_and_exact() -> None:
    items = [dict(SINGLE, id=f"s{i}") for i in range(10)]
    answers = [{"item_id": f"s{i}", "answer": "c"} for i in range(7)]
    assert grade(items, RUBRIC, answers).passed is True
    assert grade(items, RUBRIC, answers[:6]).passed is False


@pytest.mark.parametrize(
    "responses",
    [
        [{"item_id": "zzz", "answer": "a"}],
        [{"item_id": "s", "answer": "c"}, {"item_id": "s", "answer": "c"}],
        [{"item_id": "s", "answer": ["c"]}],
        [{"item_id": "s", "answer": "q"}],
        [{"item_id": "m", "answer": "a"}],
        [{"item_id": "m", "answer": ["a", "a"]}],
        [{"item_id": "m", "answer": ["a", "q"]}],
        [{"item_id": "n", "answer": "4.5"}],
        [{"item_id": "n", "answer": True}],
        [{"item_id": "n", "answer": float("nan")}],
        [{"item_id": "n", "answer": float("inf")}],
    ],
)
def test_ungradeable_responses_raise(responses: list[dict[str, Any]]) -> None:
    with pytest.raises(ResponseError):
        grade([SINGLE, MULTI, NUMERIC], RUBRIC, responses)


def test_grading_is_deterministic() -> None:
    responses = [{"item_id": "m", "answer": ["b", "e"]}, {"item_id": "n", "answer": 4.55}]
    results = {repr(grade([SINGLE, MULTI, NUMERIC], RUBRIC, responses).to_json()) for _ in range(20)}
    assert len(results) == 1
