"""Item hygiene: options kept in their natural order, spare right options for matching items, and short-text
normalisation that reads "`append`", "ORDER BY." and "the alt attribute" as the answer (rubric version 3)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update

from app.assessments import freeze, rules, validation
from app.assessments.generators.bank import BANK_DIR, load_bank, option_id
from app.assessments.models import Assessment
from app.config import Settings
from app.grading import rubric
from tests.factories import ADMIN, keyed, new_assessment, new_learner, start, under_attempt_ids

# --------------------------------------------------------------------------------------------- keep_order


def _choice(number: int, kind: str, texts: list[str]) -> dict[str, Any]:
    return {
        "id": f"q{number}", "type": kind, "prompt": f"Question {number}?", "points": 1, "explanation": "Because.",
        "options": [{"id": f"q{number}o{n}", "text": text} for n, text in enumerate(texts)],
        "answer": f"q{number}o0" if kind == "single_choice" else [f"q{number}o0"],
    }


GOLDEN_ITEMS = [
    _choice(1, "single_choice", ["2", "3", "4", "It raises TypeError"]),
    _choice(2, "single_choice", ["red", "green", "blue", "cyan"]),
    _choice(3, "multiple_response", ["a", "b", "c", "d", "e"]),
]
# freeze.present before keep_order existed (commit 510f9e8), for these items: item order and option order.
GOLDEN = {
    7: [("q3", ["q3o1", "q3o2", "q3o4", "q3o0", "q3o3"]), ("q1", ["q1o1", "q1o0", "q1o3", "q1o2"]),
        ("q2", ["q2o3", "q2o2", "q2o0", "q2o1"])],
    2024: [("q3", ["q3o3", "q3o1", "q3o0", "q3o2", "q3o4"]), ("q1", ["q1o1", "q1o0", "q1o3", "q1o2"]),
           ("q2", ["q2o0", "q2o2", "q2o1", "q2o3"])],
}


def _shown(items: list[dict[str, Any]], seed: int) -> list[tuple[str, list[str]]]:
    return [(item["id"], [option["id"] for option in item["options"]]) for item in freeze.present(items, seed)]


@pytest.mark.parametrize("seed", sorted(GOLDEN))
def test_items_without_keep_order_present_exactly_as_before_for_the_same_seed(seed: int) -> None:
    assert _shown([dict(item) for item in GOLDEN_ITEMS], seed) == GOLDEN[seed]


@pytest.mark.parametrize("seed", sorted(GOLDEN))
def test_a_keep_order_item_shows_its_options_as_written_and_leaves_the_others_as_they_were(seed: int) -> None:
    items = [{**GOLDEN_ITEMS[0], "keep_order": True}, *GOLDEN_ITEMS[1:]]
    shown = dict(_shown(items, seed))
    assert shown["q1"] == ["q1o0", "q1o1", "q1o2", "q1o3"]
    assert [(item_id, shown[item_id]) for item_id, _ in GOLDEN[seed] if item_id != "q1"] == [
        entry for entry in GOLDEN[seed] if entry[0] != "q1"
    ]
    assert [item_id for item_id, _ in _shown(items, seed)] == [item_id for item_id, _ in GOLDEN[seed]]


def test_keep_order_is_refused_where_the_order_would_show_the_key() -> None:
    ordering = {**_choice(4, "ordering", ["first", "second", "third"]), "answer": ["q4o0", "q4o1", "q4o2"]}
    assert validation.item_problems(ordering) == []
    assert [problem.split(":")[0] for problem in validation.item_problems({**ordering, "keep_order": True})] == [
        "keep_order_invalid"
    ]
    assert validation.item_problems({**GOLDEN_ITEMS[0], "keep_order": "yes"})[0].startswith("keep_order_invalid")
    assert validation.item_problems({**GOLDEN_ITEMS[0], "keep_order": True}) == []


def test_the_bank_keeps_numbers_ranges_dates_and_versions_in_order_and_never_an_ordering_item() -> None:
    items = {item["id"]: item for skill in load_bank(BANK_DIR).values() for item in skill.items}
    named_by_the_review = ("python-f01", "sql-f17", "spreadsheets-f21", "spreadsheets-i17", "technical-writing-i07")
    for item_id in (*named_by_the_review, "sql-f14", "web-accessibility-i21"):
        assert items[item_id].get("keep_order") is True, item_id
    kept = [item for item in items.values() if item.get("keep_order")]
    assert kept and all(item["type"] in ("single_choice", "multiple_response") for item in kept)
    versions = [option["text"] for option in items["technical-writing-i07"]["options"]]
    assert versions == sorted(versions, key=lambda text: tuple(int(part) for part in text.split(".")))


def test_a_learner_sees_a_keep_order_item_in_its_written_order(client: TestClient) -> None:
    draft = new_assessment(client, publish=False, item_count=3, seed=11)
    texts = ["0.075%", "0.1%", "7.5%", "75.0%"]
    added = client.post(f"/v1/assessments/{draft['id']}/items", headers=ADMIN, json={
        "id": "percent", "type": "single_choice", "points": 1, "keep_order": True,
        "prompt": "A cell holds 0.075 and is formatted as a percentage with one decimal place. What does it show?",
        "options": [{"text": text} for text in texts], "answer": option_id("percent", "7.5%"),
        "explanation": "Percentage format multiplies by 100: 7.5%.",
    })
    assert added.status_code == 201, added.text
    assert next(item for item in added.json()["items"] if item["id"] == "percent")["keep_order"] is True
    published = client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN)
    assert published.status_code == 200, published.text
    for _ in range(3):  # every attempt has its own seed; none reorders these options
        attempt = start(client, published.json(), new_learner(client))
        alias = {item["bank_item_id"]: item["id"] for item in keyed(client, attempt)["items"]}
        shown = next(item for item in attempt["items"] if item["id"] == alias["percent"])
        assert [option["text"] for option in shown["options"]] == texts
        assert "keep_order" not in shown


# ------------------------------------------------------------------------------ matching: spare right options

REVIEW_MATCHING = (
    "git-f24", "git-f26", "git-i29", "git-i30", "python-f27", "python-i27", "python-i28", "spreadsheets-f30",
    "spreadsheets-f31", "spreadsheets-f32", "spreadsheets-i31", "spreadsheets-i32", "spreadsheets-i33", "sql-f25",
    "sql-f26", "sql-f27", "sql-i26", "sql-i27", "sql-i28", "technical-writing-f25", "technical-writing-f26",
    "technical-writing-f27", "technical-writing-i26", "technical-writing-i27", "technical-writing-i28",
    "web-accessibility-f28", "web-accessibility-f29", "web-accessibility-f30", "web-accessibility-i29",
    "web-accessibility-i30", "web-accessibility-i31",
)


def _sides(item: dict[str, Any]) -> tuple[int, int]:
    sides = [option["side"] for option in item["options"]]
    return sides.count("left"), sides.count("right")


def test_every_bank_matching_item_offers_a_right_option_that_matches_nothing() -> None:
    items = {item["id"]: item for skill in load_bank(BANK_DIR).values() for item in skill.items}
    assert len(REVIEW_MATCHING) == 31 and set(REVIEW_MATCHING) <= set(items)
    matching = [item for item in items.values() if item["type"] == "matching"]
    assert len(matching) >= 36
    for item in matching:
        left, right = _sides(item)
        assert right > left, item["id"]
        spare = {option["id"] for option in item["options"] if option["side"] == "right"} - set(item["answer"].values())
        texts = {option["id"]: option["text"] for option in item["options"]}
        keyed_texts = {texts[right_id] for right_id in item["answer"].values()}
        assert spare and not {texts[option] for option in spare} & keyed_texts, item["id"]


def _matching(spare: int) -> dict[str, Any]:
    lefts = [{"id": f"l{n}", "text": text, "side": "left"} for n, text in enumerate(("GET", "POST", "DELETE"))]
    rights = [{"id": f"r{n}", "text": text, "side": "right"}
              for n, text in enumerate(("read a resource", "create a resource", "remove a resource",
                                        "replace a resource", "describe the allowed methods")[: 3 + spare])]
    return {
        "id": "m1", "type": "matching", "prompt": "Match each HTTP method to what it usually does.",
        "options": lefts + rights, "answer": {f"l{n}": f"r{n}" for n in range(3)}, "points": 2,
        "explanation": "GET reads, POST creates, DELETE removes.",
    }


def test_new_matching_items_need_more_right_than_left_options_while_frozen_ones_still_pass() -> None:
    assert rules.rule_problems(_matching(0), []) == []  # an item written before the rule still publishes
    assert [problem.split(":")[0] for problem in rules.new_item_problems(_matching(0), [])] == [
        "matching_without_spare"
    ]
    assert rules.new_item_problems(_matching(1), []) == []
    assert rules.new_item_problems(_matching(2), []) == []


def test_an_admin_cannot_add_a_matching_item_without_a_spare_right_option(client: TestClient) -> None:
    draft = new_assessment(client, publish=False, item_count=3, seed=3)
    item = {key: value for key, value in _matching(0).items() if key != "id"}
    item["options"] = [{"text": option["text"], "side": option["side"], "id": option["id"]}
                       for option in item["options"]]
    refused = client.post(f"/v1/assessments/{draft['id']}/items", json=item, headers=ADMIN)
    assert refused.status_code == 422 and "matching_without_spare" in refused.json()["detail"]
    item["options"].append({"id": "r3", "text": "replace a resource", "side": "right"})
    assert client.post(f"/v1/assessments/{draft['id']}/items", json=item, headers=ADMIN).status_code == 201


# --------------------------------------------------------------------------------- short-text normalisation

SHORT = {
    "id": "s1", "type": "short_text", "prompt": "Which list method adds one element at the end?", "points": 1,
    "answer": "append", "accepted_answers": ["alt attribute", "ORDER BY"], "case_sensitive": False,
    "explanation": "append adds at the end.",
}


@pytest.mark.parametrize("answer", ["`append`", '"append"', "append.", "'append'!", "“append”", "the append",
                                    "ORDER BY.", "the alt attribute", '"The alt attribute."'])
def test_rubric_3_strips_quotes_backticks_trailing_punctuation_and_a_leading_article(answer: str) -> None:
    assert rubric.score_item(SHORT, answer, {"version": 3}) == 1
    assert rubric.score_item(SHORT, answer, {"version": 2}) == 0  # frozen before: graded as it always was


@pytest.mark.parametrize("answer", ["append", "  APPEND ", "ORDER  BY", "alt attribute"])
def test_answers_that_matched_before_match_under_both_versions(answer: str) -> None:
    assert rubric.score_item(SHORT, answer, {"version": 2}) == 1
    assert rubric.score_item(SHORT, answer, {"version": 3}) == 1


@pytest.mark.parametrize("answer", ["appendix", "the", "a", "`append", "append()", "an extend", "`` ``"])
def test_rubric_3_strips_nothing_else(answer: str) -> None:
    assert rubric.score_item(SHORT, answer, {"version": 3}) == 0


def test_the_current_rubric_is_version_3_and_a_rubric_without_a_version_follows_it() -> None:
    assert rubric.RUBRIC_VERSION == 3
    assert rubric.score_item(SHORT, "`append`", {}) == 1
    assert rubric.normalise_text("  The  `ORDER BY`. ", version=2) == "the `order by`."
    assert rubric.normalise_text("  The  `ORDER BY`. ") == "order by"
    assert rubric.normalise_text("Ada Lovelace.", case_sensitive=True) == "Ada Lovelace"


def _short_text_draft(client: TestClient, settings: Settings, version: int) -> tuple[dict[str, Any], str]:
    """A published assessment holding one drawn item and SHORT; its rubric frozen at `version`."""
    draft = new_assessment(client, publish=False, item_count=1, seed=8)
    drawn = draft["items"][0]["id"]
    body = {key: value for key, value in SHORT.items() if key != "id"}
    added = client.post(f"/v1/assessments/{draft['id']}/items", json=body, headers=ADMIN)
    assert added.status_code == 201, added.text
    short_id = next(item["id"] for item in added.json()["items"] if item["id"] != drawn)
    if version != rubric.RUBRIC_VERSION:  # a draft made before version 3 keeps the rubric it was made with
        engine = create_engine(settings.sqlalchemy_url)
        with engine.begin() as connection:
            frozen = {**draft["rubric"], "version": version}
            connection.execute(update(Assessment).where(Assessment.id == draft["id"]).values(rubric=frozen))
        engine.dispose()
    published = client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN)
    assert published.status_code == 200, published.text
    assert published.json()["rubric"]["version"] == version
    return published.json(), short_id


@pytest.mark.parametrize(("version", "score"), [(2, 0), (3, 1)])
def test_grading_and_regrading_follow_the_frozen_rubric_version(
    client: TestClient, settings: Settings, version: int, score: int
) -> None:
    assessment, short_id = _short_text_draft(client, settings, version)
    learner = new_learner(client)
    attempt = start(client, assessment, learner)
    responses = under_attempt_ids(client, attempt, [{"item_id": short_id, "answer": "`append`."}])
    graded = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                         headers=learner["headers"])
    assert graded.status_code == 200, graded.text
    assert graded.json()["score"] == score
    drawn = next(item["id"] for item in assessment["items"] if item["id"] != short_id)
    voided = client.post(f"/v1/assessments/{assessment['id']}/items/{drawn}/void", json={"reason": "test"},
                         headers=ADMIN)
    assert voided.status_code == 201, voided.text
    regraded = keyed(client, attempt)["grade"]
    assert regraded["amended"] is True and regraded["score"] == score and regraded["max_score"] == 1
