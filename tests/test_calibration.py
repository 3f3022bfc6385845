"""Calibration: Rasch recovery on simulated candidates, pretest items, first-attempt statistics, quarantine."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.assessments.generators.bank import BankGenerator
from app.calibration import itemstats, pretest, rasch
from app.config import Settings
from app.grading import ability
from app.grading.rubric import grade
from app.main import create_app
from tests.conformance import assert_ob3
from tests.conftest import ADMIN_KEY, PUBLIC_URL, migrated_database
from tests.factories import ADMIN, keyed, new_assessment, new_learner, start, wrong_answer

RUBRIC = {"version": 2, "pass_percent": 60}


def choice_item(item_id: str, points: int = 1, **extra: Any) -> dict[str, Any]:
    return {"id": item_id, "type": "single_choice", "prompt": f"{item_id}?", "points": points,
            "options": [{"id": f"{item_id}-a", "text": "a"}, {"id": f"{item_id}-b", "text": "b"}],
            "answer": f"{item_id}-a", "criteria": {"core": 1}, **extra}


def simulate(seed: int, persons: int, difficulties: list[float]) -> tuple[list[float], list[list[int]]]:
    rng = random.Random(seed)
    thetas = [rng.gauss(0, 1) for _ in range(persons)]
    results = [[int(rng.random() < 1 / (1 + math.exp(b - theta))) for b in difficulties] for theta in thetas]
    return thetas, results


def test_rasch_fit_recovers_difficulties_and_graded_abilities_cover_the_truth() -> None:
    """2,000 simulated candidates, abilities N(0, 1), Rasch responses to 30 items of known difficulty."""
    rng = random.Random(9)
    truth = [rng.uniform(-2.5, 2.5) for _ in range(30)]
    ids = [f"sim-{index:02d}" for index in range(30)]
    thetas, results = simulate(20261202, 2000, truth)
    fit = rasch.fit([dict(zip(ids, row, strict=True)) for row in results], ids)
    centre = sum(truth) / len(truth)
    errors = [abs(item.difficulty - (true - centre)) for item, true in zip(fit.items, truth, strict=True)]
    assert max(errors) < 0.3, max(errors)
    assert abs(sum(item.difficulty for item in fit.items)) < 1e-6  # the anchor: mean difficulty 0
    assert abs(fit.ability_sd - 1) < 0.1
    # The standard errors say how far the estimates stray: about 95% of items within 1.96 SE.
    assert sum(error <= 1.96 * item.se for error, item in zip(errors, fit.items, strict=True)) >= 26
    # Abilities from grades of frozen calibrated items (what a learner's grade reports), on the same scale.
    scale = "rasch:sim/x@test"
    items = [choice_item(item_id, calibration={"difficulty": item.difficulty, "se": item.se, "scale": scale})
             for item_id, item in zip(ids, fit.items, strict=True)]
    covered, widths = 0, []
    for theta, row in zip(thetas, results, strict=True):
        answers = [{"item_id": item_id, "answer": f"{item_id}-{'a' if right else 'b'}"}
                   for item_id, right in zip(ids, row, strict=True)]
        estimate = grade(items, RUBRIC, answers).ability
        assert estimate is not None and estimate.scale == scale and estimate.items == 30
        covered += abs(estimate.estimate - (theta - centre)) <= 1.96 * estimate.standard_error
        widths.append(estimate.standard_error)
    assert 0.93 <= covered / len(thetas) <= 0.97, covered / len(thetas)
    assert 0.35 < sum(widths) / len(widths) < 0.6  # 30 items spread over 5 logits: about 0.43


def test_wle_is_finite_at_the_extremes_and_deterministic() -> None:
    difficulties = [-1.0, 0.0, 1.0, 2.0]
    top = ability.wle([1, 1, 1, 1], difficulties, "s")
    bottom = ability.wle([0, 0, 0, 0], difficulties, "s")
    assert bottom.estimate < -1 < 2 < top.estimate < ability.BOUND
    assert top == ability.wle([1, 1, 1, 1], difficulties, "s")


def grade_json(items: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    return grade(items, RUBRIC, [{"item_id": key, "answer": value} for key, value in answers.items()]).to_json()


@pytest.mark.parametrize("scored_right", [0, 2, 4])
def test_a_pretest_item_never_changes_a_grade(scored_right: int) -> None:
    scored = [choice_item(f"s{index}", points=index + 1) for index in range(4)]
    probe = choice_item("new", points=5, pretest=True, criteria={"probe-only": 1})
    answers = {item["id"]: item["answer"] if index < scored_right else f"{item['id']}-b"
               for index, item in enumerate(scored)}
    without = grade_json(scored, answers)
    right = grade_json([*scored, probe], {**answers, "new": "new-a"})
    wrong = grade_json([*scored, probe], {**answers, "new": "new-b"})
    unanswered = grade_json([*scored, probe], answers)
    assert right == wrong == unanswered
    assert {key: right[key] for key in without if key != "items"} == {key: without[key] for key in without
                                                                      if key != "items"}
    assert {"item_id": "new", "score": 0, "max_score": 0} in right["items"]
    # The same item frozen before pretest existed (no flag) is scored as it always was.
    unflagged = {key: value for key, value in probe.items() if key != "pretest"}
    assert grade_json([*scored, unflagged], {**answers, "new": "new-a"})["score"] == without["score"] + 5


def test_ability_only_when_every_scored_item_is_calibrated_on_one_scale() -> None:
    def calibrated(item_id: str, scale: str = "rasch:a/b@1") -> dict[str, Any]:
        return choice_item(item_id, calibration={"difficulty": 0.5, "se": 0.1, "scale": scale})

    answers = [{"item_id": "x", "answer": "x-a"}, {"item_id": "y", "answer": "y-b"}]
    assert grade([calibrated("x"), calibrated("y")], RUBRIC, answers).ability is not None
    assert grade([calibrated("x"), choice_item("y")], RUBRIC, answers).ability is None
    assert grade([calibrated("x"), calibrated("y", "rasch:a/b@2")], RUBRIC, answers).ability is None
    # An uncalibrated pretest item does not stand in the way.
    with_probe = [calibrated("x"), calibrated("y"), choice_item("z", pretest=True)]
    assert grade(with_probe, RUBRIC, answers).ability == grade(with_probe[:2], RUBRIC, answers).ability


def test_attempt_draws_keep_the_scored_length_and_cap_pretest_items() -> None:
    pool = [choice_item(f"s{index}") for index in range(12)] + [choice_item(f"p{i}", pretest=True) for i in range(6)]
    for seed in range(200):
        ids = pretest.draw_attempt(pool, 10, seed, {}, 0.2)
        scored = [item_id for item_id in ids if item_id.startswith("s")]
        assert len(scored) == 10 and len(ids) - len(scored) == 2  # 2 of 12 shown: at most 20%
    plain = [item for item in pool if "pretest" not in item]
    from app.assessments import freeze
    assert pretest.draw_attempt(plain, 10, 7, {}, 0.2) == freeze.draw_items(plain, 10, 7, {})
    assert pretest.max_pretest(10, 0.2) == 2 and pretest.max_pretest(3, 0.2) == 0


def test_distractor_chosen_by_strong_candidates_is_a_quarantine_reason() -> None:
    stats = itemstats.BankItemStatistics(
        item_id="i", skill="s", level="l", type="single_choice", responses=300, facility=0.5, mean_score=0.5,
        discrimination=0.3, omitted=0.0,
        options=(itemstats.OptionStatistics("k", "key", True, 0.5, 0.4, 0.5, 0.2),
                 itemstats.OptionStatistics("d", "trap", False, 0.5, 0.6, 0.5, -0.01)),
    )
    reasons = itemstats.quarantine_reasons(stats, itemstats.QuarantineBounds())
    assert len(reasons) == 1 and "more than the key" in reasons[0]
    assert itemstats.quarantine_reasons(stats, itemstats.QuarantineBounds(min_responses=301)) == []


def test_upper_and_lower_groups_do_not_depend_on_who_is_listed_first_among_ties() -> None:
    """The same answers by learners with other ids (random UUIDs in the service) give the same statistics: rest
    scores on a short assessment tie often, and the 27% groups used to be cut through a tie in id order."""
    items = BankGenerator().pool("web-accessibility", "intermediate", 1, ("single_choice",))[:6]
    rng = random.Random(3)
    started = datetime(2026, 12, 1, tzinfo=UTC)  # all at once: the order among them is the learners' ids
    answer_sheets = [
        {item["id"]: rng.choice([item["answer"], item["answer"], *(option["id"] for option in item["options"])])
         for item in items}
        for _ in range(40)
    ]

    def statistics(ids: list[str]) -> list[itemstats.BankItemStatistics]:
        return itemstats.item_bank_statistics(
            itemstats.FirstAttempt(learner_id, started, "web-accessibility", "intermediate", items, answers, {})
            for learner_id, answers in zip(ids, answer_sheets, strict=True)
        )

    ids = [f"learner-{index:02d}" for index in range(40)]
    first = statistics(ids)
    assert any(option.upper is not None for stats in first for option in stats.options)
    for _ in range(3):
        assert statistics(rng.sample(ids, len(ids))) == first


def stats_by_id(client: TestClient, **params: str) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/item-bank/statistics", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return {entry["item_id"]: entry for entry in response.json()}


def submit(client: TestClient, learner: dict[str, Any], attempt: dict[str, Any], right: set[str] | None,
           wrong: Callable[[dict[str, Any]], Any] = wrong_answer) -> Any:
    """Answer every item: right where its assessment id is in `right` (None: all right), else `wrong(item)`."""
    view = keyed(client, attempt)
    responses = [{"item_id": item["id"],
                  "answer": item["answer"] if right is None or item["bank_item_id"] in right else wrong(item)}
                 for item in view["items"]]
    response = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                           headers=learner["headers"])
    assert response.status_code == 200, response.text
    return response.json()


def test_statistics_count_first_attempts_only(client: TestClient) -> None:
    assessment = new_assessment(client, skill="sql", level="intermediate", item_count=5, max_attempts=3)
    ids = [item["id"] for item in assessment["items"]]
    before = stats_by_id(client, skill="sql", level="intermediate")
    strong, weak = new_learner(client), new_learner(client)
    submit(client, strong, start(client, assessment, strong), None)
    submit(client, strong, start(client, assessment, strong), set())  # a retake, all wrong: not counted
    submit(client, weak, start(client, assessment, weak), set())
    after = stats_by_id(client, skill="sql", level="intermediate")
    for item_id in ids:
        old = before.get(item_id, {"responses": 0, "facility": 0})
        new = after[item_id]
        assert new["responses"] == old["responses"] + 2
        right = round(new["facility"] * new["responses"]) - round((old["facility"] or 0) * old["responses"])
        assert right == 1
    assert client.get("/v1/item-bank/statistics", headers=new_learner(client)["headers"]).status_code == 403


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: calibration reads every first attempt of a skill and level, so other
    tests' attempts in the session's shared database would change its figures."""
    with migrated_database(request, tmp_path) as url:
        yield url


@pytest.fixture
def small_thresholds(settings: Settings, own_database: str) -> Iterator[TestClient]:
    # model_validate, not model_copy: the database URL is a cached property that a copy would carry over.
    quick = type(settings).model_validate({
        **settings.model_dump(), "calibration_min_responses": 30, "pretest_responses": 30,
        "quarantine_min_responses": 30, "database_url": own_database,
    })
    with TestClient(create_app(quick), base_url=PUBLIC_URL) as test_client:
        test_client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        yield test_client


def seeded_distractor(seed: str, item: dict[str, Any]) -> str:
    """A wrong option of a single-choice item, drawn by `seed` and the item's bank id (not by option order)."""
    distractors = sorted(option["id"] for option in item["options"] if option["id"] != item["answer"])
    return random.Random(f"{seed}:{item['bank_item_id']}").choice(distractors)


def test_calibrate_quarantine_pretest_and_ability_over_http(small_thresholds: TestClient) -> None:
    client = small_thresholds
    skill, level = "web-accessibility", "intermediate"
    pool = sorted(item["id"] for item in BankGenerator().pool(skill, level, 1, ("single_choice",)))
    first = new_assessment(client, skill=skill, level=level, item_count=len(pool) - 2, item_types=["single_choice"],
                           max_attempts=1, seed=11)
    drawn = [item["id"] for item in first["items"]]
    too_easy = drawn[0]  # everyone gets it right: facility 1.0 > 0.95
    rng = random.Random(5)
    difficulty = {item_id: rng.uniform(-1.5, 1.5) for item_id in drawn}
    for number in range(60):
        learner = new_learner(client)
        theta = rng.gauss(0, 1)
        right = {item_id for item_id in drawn
                 if item_id == too_easy or rng.random() < 1 / (1 + math.exp(difficulty[item_id] - theta))}
        # Which distractor a wrong learner picks is seeded by learner and item, not by the attempt's shuffled option
        # order (its seed is random): the distractor statistics, and so the quarantine, are the same every run.
        submit(client, learner, start(client, first, learner), right,
               wrong=functools.partial(seeded_distractor, str(number)))

    response = client.post("/v1/item-bank/calibrate", json={"skill": skill, "level": level})
    assert response.status_code == 200, response.text
    (report,) = response.json()
    assert too_easy in report["quarantined"]
    assert report["calibrated"] >= len(drawn) - len(report["quarantined"]) - 1
    quarantine = {entry["item_id"]: entry for entry in client.get("/v1/item-bank/quarantine").json()}
    assert any("facility 1.0" in reason for reason in quarantine[too_easy]["reasons"])
    calibrations = {row["item_id"]: row for row in client.get("/v1/item-bank/calibrations",
                                                                params={"skill": skill}).json()}
    assert too_easy not in calibrations and abs(sum(row["difficulty"] for row in calibrations.values())) < 1e-6

    # A new draft: no quarantined item; scored items are established (calibrated), new ones ride along as pretest.
    scored_count = min(8, report["calibrated"])
    assert scored_count >= 4, quarantine
    second = new_assessment(client, skill=skill, level=level, item_count=scored_count, item_types=["single_choice"],
                            max_attempts=1, seed=12)
    items = second["items"]
    assert too_easy not in {item["id"] for item in items}
    # Its precision rests on the scored items and their calibrated difficulties, not on the pretest ones.
    assert second["precision"]["item_model"] == "item_difficulties"
    assert second["precision"]["attempt_length"] == scored_count
    probes = [item for item in items if item.get("pretest")]
    scored = [item for item in items if not item.get("pretest")]
    assert len(scored) == scored_count and len(probes) == min(2, pretest.max_pretest(scored_count, 0.2))
    assert {item["id"] for item in probes} <= set(pool) - set(drawn)  # the 2 items the first draft left out
    assert all(item["calibration"]["difficulty"] == round(calibrations[item["id"]]["difficulty"], 4)
               for item in scored)
    learner = new_learner(client)
    attempt = start(client, second, learner)
    assert len(attempt["items"]) == scored_count + len(probes)
    assert all("pretest" not in item and "calibration" not in item for item in attempt["items"])
    graded = submit(client, learner, attempt, {item["id"] for item in scored})
    assert graded["percent"] == 100.0 and graded["max_score"] == sum(item["points"] for item in scored)
    assert graded["ability"]["method"] == "WLE" and graded["ability"]["scale"] == scored[0]["calibration"]["scale"]
    assert graded["ability"]["standard_error"] > 0
    # The credential carries the estimate as a second Result, described on the achievement, with its SE.
    vc = client.get(f"/v1/credentials/{graded['credential_id']}", headers=learner["headers"]).json()["credential"]
    assert_ob3(vc)
    ability_result = vc["credentialSubject"]["result"][-1]
    assert ability_result["value"] == f"{graded['ability']['estimate']:.2f}"
    assert ability_result["standardError"] == f"{graded['ability']['standard_error']:.2f}"
    assert ability_result["measurementScale"] == graded["ability"]["scale"]
    described = {entry["id"]: entry for entry in vc["credentialSubject"]["achievement"]["resultDescription"]}
    assert described[ability_result["resultDescription"]]["resultType"] == "ScaledScore"
    assert vc["evidence"][0]["calibration"] == "calibrated"
    assert vc["evidence"][0]["itemsPresented"] == scored_count + len(probes)

    released = client.post(f"/v1/item-bank/quarantine/{too_easy}/release", json={"note": "easy by design"})
    assert released.status_code == 200 and released.json()["quarantined"] is False
    assert too_easy not in {entry["item_id"] for entry in client.get("/v1/item-bank/quarantine").json()}
    assert client.post(f"/v1/item-bank/quarantine/{too_easy}/release", json={"note": "again"}).status_code == 404
