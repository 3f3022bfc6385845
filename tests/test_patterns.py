"""Short-text patterns run on RE2: no pattern can make grading backtrack, and what RE2 cannot run is refused."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from fastapi.testclient import TestClient

from app.grading import patterns, rubric
from tests.factories import ADMIN, new_assessment, new_learner, start

# Each passed the old nested-repetition guard and backtracks exponentially on Python's `re`.
EVIL_PATTERNS = ("(a|a)*b", "(a|a?)+b", "(.*a){12}")


def _short_text(pattern: str, answer: str = "aab") -> dict[str, object]:
    return {
        "id": "s1", "type": "short_text", "prompt": "Type the code word.", "answer": answer,
        "accepted_answers": [], "case_sensitive": False, "pattern": pattern, "points": 1, "explanation": "It is.",
    }


@pytest.mark.parametrize("pattern", EVIL_PATTERNS)
def test_grading_an_evil_pattern_takes_linear_time(pattern: str) -> None:
    item = _short_text(pattern)
    for answer in ("a" * 25 + "c", "a" * rubric.MAX_SHORT_TEXT):  # 25 letters took ~3 s on `re`
        started = time.perf_counter()
        score = rubric.score_item(item, answer, {})
        elapsed = time.perf_counter() - started
        assert elapsed < 0.2, (pattern, len(answer), elapsed)
        assert score == (Fraction(1) if patterns.fullmatches(pattern, answer, case_sensitive=False) else 0)


def test_case_rule_and_full_match_are_kept() -> None:
    assert patterns.fullmatches("colou?r", "colour", case_sensitive=True)
    assert not patterns.fullmatches("colou?r", "my colour", case_sensitive=True)  # full match, not search
    assert not patterns.fullmatches("Colou?r", "colour", case_sensitive=True)
    assert patterns.fullmatches("Colou?r", "colour", case_sensitive=False)
    assert rubric.score_item(_short_text("colou?r", answer="color"), "  COLOUR ", {}) == 1


def test_a_frozen_pattern_re2_cannot_compile_grades_by_the_listed_answers_only() -> None:
    item = _short_text("(a)\\1b", answer="aab")
    assert rubric.score_item(item, "aab", {}) == 1
    assert rubric.score_item(item, "aaab", {}) == 0


def test_answer_length_is_capped_and_the_error_says_so() -> None:
    item = _short_text("a+b")
    with pytest.raises(rubric.ResponseError, match=f"at most {rubric.MAX_SHORT_TEXT} characters"):
        rubric.check_answer_shape(item, "a" * (rubric.MAX_SHORT_TEXT + 1))


def test_submit_against_an_evil_pattern_answers_at_once(client: TestClient) -> None:
    draft = new_assessment(client, publish=False)
    item = {
        "type": "short_text", "prompt": "Type the code word: some letters a, then one b.", "points": 1,
        "answer": "aab", "accepted_answers": [], "pattern": "(a|a)*b", "explanation": "Any number of a, then b.",
    }
    first = draft["items"][0]["id"]
    replaced = client.put(f"/v1/assessments/{draft['id']}/items/{first}", json=item, headers=ADMIN)
    assert replaced.status_code == 200, replaced.text
    published = client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN)
    assert published.status_code == 200, published.text
    learner = new_learner(client)
    attempt = start(client, published.json(), learner)
    shown = [i for i in attempt["items"] if i["prompt"] == item["prompt"]]
    assert shown, "the item with the pattern is in the attempt"
    started = time.perf_counter()
    response = client.post(
        f"/v1/attempts/{attempt['id']}/submit",
        json={"responses": [{"item_id": shown[0]["id"], "answer": "a" * 26 + "c"}]},
        headers=learner["headers"],
    )
    assert response.status_code == 200, response.text
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("pattern", "words"),
    [("(a)\\1b", "RE2"), ("a(?=a)ab", "RE2"), ("a" * 201, "pattern_too_long")],
)
def test_items_with_patterns_re2_cannot_run_are_refused(client: TestClient, pattern: str, words: str) -> None:
    draft = new_assessment(client, publish=False)
    item = {
        "type": "short_text", "prompt": "Type the code word.", "points": 1, "answer": "aab",
        "accepted_answers": [], "pattern": pattern, "explanation": "It is aab.",
    }
    first = draft["items"][0]["id"]
    response = client.put(f"/v1/assessments/{draft['id']}/items/{first}", json=item, headers=ADMIN)
    assert response.status_code == 422 and response.json()["error"] == "item_invalid"
    assert words in response.json()["detail"]


def test_numeric_key_beyond_2_53_never_makes_a_draft(client: TestClient) -> None:
    draft = new_assessment(client, publish=False)
    first = draft["items"][0]["id"]
    expected = {"9007199254740993": "invalid_json", "1e300": "key_not_finite_number", "-1e17": "key_not_finite_number"}
    for key, words in expected.items():
        raw = (
            '{"type": "numeric", "prompt": "How many bytes are in a kibibyte?", "points": 1, '
            f'"explanation": "2 to the 10th.", "answer": {key}, "tolerance": {{"absolute": 0}}}}'
        )
        response = client.put(f"/v1/assessments/{draft['id']}/items/{first}", content=raw.encode(),
                              headers={**ADMIN, "content-type": "application/json"})
        assert response.status_code == 422 and words in response.text, (key, response.text)
    assert client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN).status_code == 200
