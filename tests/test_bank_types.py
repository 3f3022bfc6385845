"""The bank covers every item type at every level, and every type grades as the rubric documents."""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from app.assessments.generators.bank import BANK_DIR, load_bank
from app.assessments.validation import ITEM_TYPES, PERFORMANCE_TYPES, item_problems
from app.grading.rubric import grade, normalise_text

RUBRIC = {"pass_percent": 50}
SKILLS = sorted(load_bank(BANK_DIR))
MIN_PER_TYPE_AND_LEVEL = 3


def _items(skill_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """Internal items of the loaded bank (without the bank-only `level` key)."""
    skills = load_bank(BANK_DIR)
    chosen = [skills[skill_id]] if skill_id else list(skills.values())
    return [
        {key: value for key, value in item.items() if key != "level"}
        for skill in chosen
        for item in skill.items
        if kind is None or item["type"] == kind
    ]


def _score(item: dict[str, Any], answer: object, rubric: dict[str, Any] = RUBRIC) -> Fraction:
    return grade([item], rubric, [{"item_id": item["id"], "answer": answer}]).score


def _wrong_answer(item: dict[str, Any]) -> object:
    """A well-shaped answer that is not the key."""
    kind, key = item["type"], item["answer"]
    if kind == "single_choice":
        return next(option["id"] for option in item["options"] if option["id"] != key)
    if kind == "multiple_response":
        return [option["id"] for option in item["options"] if option["id"] not in key]
    if kind == "numeric":
        tolerance = item["tolerance"]
        exact = Decimal(repr(key))
        margin = max(Decimal(repr(tolerance["absolute"])), Decimal(repr(tolerance.get("relative", 0))) * abs(exact))
        return float(exact + 2 * margin + 1)
    if kind == "short_text":
        return "certainly not the answer"
    if kind == "ordering":
        return list(reversed(key))
    if kind == "sql_query":
        return "SELECT 1 WHERE 0"
    if kind == "python_function":
        return f"def {item['function']['name']}(*args):\n    return None\n"
    rights = list(key.values())
    return dict(zip(key, rights[1:] + rights[:1], strict=True))  # every left gets another left's right


@pytest.mark.parametrize("skill_id", SKILLS)
def test_every_skill_has_three_items_of_every_type_at_every_level(skill_id: str) -> None:
    skill = load_bank(BANK_DIR)[skill_id]
    counts = Counter((item["level"], item["type"]) for item in skill.items)
    missing = {
        (level, kind): counts[(level, kind)]
        for level in skill.levels
        for kind in ITEM_TYPES
        if kind not in PERFORMANCE_TYPES and counts[(level, kind)] < MIN_PER_TYPE_AND_LEVEL
    }
    assert not missing, (skill_id, missing)


def test_the_sql_skill_has_eight_sql_tasks_per_level() -> None:
    skill = load_bank(BANK_DIR)["sql"]
    counts = Counter(item["level"] for item in skill.items if item["type"] == "sql_query")
    assert all(counts[level] >= 8 for level in skill.levels), counts


def test_the_python_skill_has_eight_python_tasks_per_level_where_bubblewrap_runs() -> None:
    from app.grading import python_task

    if not python_task.available():
        pytest.skip("bubblewrap (bwrap) is not installed: the bank loads without its python_function tasks")
    skill = load_bank(BANK_DIR)["python"]
    counts = Counter(item["level"] for item in skill.items if item["type"] == "python_function")
    assert all(counts[level] >= 8 for level in skill.levels), counts


def test_every_bank_item_passes_the_item_checks() -> None:
    items = _items()
    assert len(items) >= 6 * 2 * 6 * MIN_PER_TYPE_AND_LEVEL
    assert {item["id"]: item_problems(item) for item in items if item_problems(item)} == {}


def test_bank_items_meet_the_authoring_bar() -> None:
    """Prompts and options short, no 'all/none of the above', and tags drawn from a small per-skill set."""
    for skill_id in SKILLS:
        tags: set[str] = set()
        for item in _items(skill_id):
            assert len(item["prompt"]) < 600, item["id"]
            texts = [option["text"] for option in item.get("options", [])]
            assert all(len(text) < 200 for text in texts), item["id"]
            assert not any(
                phrase in text.casefold() for text in texts for phrase in ("all of the above", "none of the above")
            ), item["id"]
            tags.update(item.get("criteria") or {})
            assert item.get("difficulty", 2) in (1, 2, 3)
        assert 2 <= len(tags) <= 5, (skill_id, sorted(tags))


@pytest.mark.parametrize("kind", ITEM_TYPES)
def test_the_admin_key_earns_full_marks_and_a_wrong_answer_less(kind: str) -> None:
    items = _items(kind=kind)
    assert items
    for item in items:
        assert _score(item, item["answer"]) == item["points"], item["id"]
        assert _score(item, _wrong_answer(item)) < item["points"], item["id"]


def test_a_whole_assessment_of_every_type_grades_to_full_marks() -> None:
    for skill_id in SKILLS:
        items = _items(skill_id)
        result = grade(items, RUBRIC, [{"item_id": item["id"], "answer": item["answer"]} for item in items])
        assert result.score == result.max_score == sum(item["points"] for item in items)
        assert result.passed and result.mastery == "Advanced"
        wrong = grade(items, RUBRIC, [{"item_id": item["id"], "answer": _wrong_answer(item)} for item in items])
        assert not wrong.passed


def test_short_text_accepted_answers_spacing_and_width_score_full() -> None:
    for item in _items(kind="short_text"):
        for text in [item["answer"], *item["accepted_answers"]]:
            assert _score(item, text) == item["points"], (item["id"], text)
            assert _score(item, f"  {text.replace(' ', '   ')} ") == item["points"], (item["id"], text)
            fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
            assert _score(item, fullwidth) == item["points"], (item["id"], fullwidth)  # NFKC folds it back


def test_short_text_case_rules_follow_case_sensitive() -> None:
    items = _items(kind="short_text")
    assert any(item["case_sensitive"] for item in items), "at least one item should exercise case_sensitive"
    for item in items:
        for text in [item["answer"], *item["accepted_answers"]]:
            flipped = text.swapcase()
            if flipped == text:
                continue
            expected = 0 if item["case_sensitive"] else item["points"]
            assert _score(item, flipped) == expected, (item["id"], flipped)


def test_short_text_keys_are_short_and_unambiguous() -> None:
    for item in _items(kind="short_text"):
        accepted = [item["answer"], *item["accepted_answers"]]
        assert all(len(text.split()) <= 4 for text in accepted), item["id"]
        normalised = [normalise_text(text, case_sensitive=item["case_sensitive"]) for text in accepted]
        assert len(set(normalised)) == len(normalised), (item["id"], "an accepted answer repeats another")


def test_ordering_scores_all_or_nothing_by_default_and_partial_by_adjacent_pairs() -> None:
    pairs_rubric = {**RUBRIC, "ordering": "adjacent_pairs"}
    for item in _items(kind="ordering"):
        key = item["answer"]
        assert key != [option["id"] for option in item["options"]], (item["id"], "options listed in key order")
        assert _score(item, key, pairs_rubric) == item["points"]
        assert len(key) >= 3, item["id"]
        swapped = [key[1], key[0], *key[2:]]  # breaks (first, second) and (second, third); later pairs stay right
        assert _score(item, swapped) == 0
        expected = Fraction(item["points"]) * Fraction(len(key) - 3, len(key) - 1)
        assert _score(item, swapped, pairs_rubric) == expected, item["id"]


def test_matching_scores_per_pair() -> None:
    for item in _items(kind="matching"):
        key: dict[str, str] = item["answer"]
        lefts = {option["id"] for option in item["options"] if option["side"] == "left"}
        rights = [option["id"] for option in item["options"] if option["side"] == "right"]
        assert set(key) == lefts and len(set(key.values())) == len(key)
        first, second = itertools.islice(key, 2)
        crossed = {**key, first: key[second], second: key[first]}
        expected = Fraction(item["points"]) * Fraction(len(key) - 2, len(key))
        assert _score(item, crossed) == expected, item["id"]
        assert _score(item, {first: key[first]}) == Fraction(item["points"], len(key))
        extras = [right for right in rights if right not in key.values()]
        if extras:
            assert _score(item, {**key, first: extras[0]}) == Fraction(item["points"]) * Fraction(
                len(key) - 1, len(key)
            )
