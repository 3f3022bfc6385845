"""Precision you can state: the design's decision precision at the pass mark, the publish gate, reliability."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.grading import precision, statistics
from app.main import create_app
from tests.conftest import PUBLIC_URL
from tests.factories import ADMIN, correct_responses, keyed, new_learner, start, wrong_answer


def binomial_tail(n: int, p: float, at_least: int) -> float:
    """P(Bin(n, p) >= at_least), written out with math.comb."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(at_least, n + 1))


def brute_force_pass(points: Sequence[int], probabilities: Sequence[float], pass_percent: float) -> float:
    """P(pass) by enumerating every right/wrong pattern (2^n of them)."""
    total = 0.0
    for pattern in itertools.product((0, 1), repeat=len(points)):
        chance = math.prod(p if hit else 1 - p for hit, p in zip(pattern, probabilities, strict=True))
        score = sum(w for hit, w in zip(pattern, points, strict=True) if hit)
        total += chance * (score * 100 >= pass_percent * sum(points))
    return total


def unit_design(n: int, pass_percent: float = 70) -> precision.Design:
    pool = tuple(precision.Item(f"i{k}", 1) for k in range(n))
    return precision.Design(pool=pool, forms=(tuple(item.item_id for item in pool),), pass_percent=pass_percent)


# --- the pure model -------------------------------------------------------------------------------------------

def test_equal_items_follow_the_binomial_tail() -> None:
    # The figure: a candidate who knows 60% passes a 10-item attempt at a 70% cut 38% of the time.
    assert precision.pass_probability([1] * 10, [0.6] * 10, 70) == pytest.approx(0.3823, abs=1e-4)
    for n in (5, 10, 23, 40):
        for p in (0.3, 0.55, 0.85):
            expected = binomial_tail(n, p, math.ceil(0.7 * n))
            assert precision.pass_probability([1] * n, [p] * n, 70) == pytest.approx(expected, abs=1e-12)


def test_a_ten_item_design_at_70_is_far_from_the_rule() -> None:
    stated = precision.assess(unit_design(10))
    assert stated.pass_below_cut == pytest.approx(binomial_tail(10, 0.55, 7), abs=1e-12)  # 0.266
    assert stated.fail_above_cut == pytest.approx(1 - binomial_tail(10, 0.85, 7), abs=1e-12)
    assert not stated.meets_rule
    shortest = stated.minimum_attempt_length
    assert shortest is not None
    # Every length from the minimum on meets the rule; the one just below it does not.
    for n in range(shortest, precision.MAX_ATTEMPT_ITEMS + 1):
        assert binomial_tail(n, 0.55, math.ceil(0.7 * n)) <= 0.10, n
    assert binomial_tail(shortest - 1, 0.55, math.ceil(0.7 * (shortest - 1))) > 0.10
    assert precision.assess(unit_design(40)).meets_rule


def test_weighted_items_match_enumeration_of_every_outcome() -> None:
    points = [1, 2, 1, 2, 3, 1, 1, 2, 2, 1]
    probabilities = [0.9, 0.4, 0.55, 0.7, 0.35, 0.6, 0.8, 0.5, 0.65, 0.45]
    for cut in (50, 70, 72.5, 100):
        assert precision.pass_probability(points, probabilities, cut) == pytest.approx(
            brute_force_pass(points, probabilities, cut), abs=1e-12
        )
    distribution = precision.score_distribution(points, probabilities)
    assert len(distribution) == sum(points) + 1 and sum(distribution) == pytest.approx(1.0)


def test_a_seeded_simulation_agrees_with_the_closed_form() -> None:
    points = [1, 2] * 12
    probabilities = [0.55] * 24
    exact = precision.pass_probability(points, probabilities, 70)
    runs = 40_000
    simulated = precision.simulate_pass_rate(points, probabilities, 70, runs=runs, seed=11)
    assert simulated == precision.simulate_pass_rate(points, probabilities, 70, runs=runs, seed=11)
    assert abs(simulated - exact) < 4 * math.sqrt(exact * (1 - exact) / runs)


def test_decision_consistency_is_the_agreement_of_two_attempts_over_the_reference_candidates() -> None:
    design = unit_design(20)
    stated = precision.assess(design)
    # Candidates drawn from the stated reference (true score normal around the mark, SD 15, within 0-100),
    # each sitting two attempts: how often do both attempts classify alike?
    rng = random.Random(3)
    agree = candidates = 0
    while candidates < 30_000:
        true = rng.gauss(70, precision.REFERENCE_SD_POINTS)
        if not 0 <= true <= 100:
            continue
        candidates += 1
        first, second = (sum(rng.random() < true / 100 for _ in range(20)) >= 14 for _ in range(2))
        agree += first == second
    assert stated.decision_consistency == pytest.approx(agree / candidates, abs=0.012)
    assert precision.assess(unit_design(40)).decision_consistency > stated.decision_consistency


def test_item_difficulties_feed_the_same_model() -> None:
    # Equal difficulties are equal facilities: the figures are those of the binomial model.
    pool = tuple(precision.Item(f"i{k}", 1, 0.4) for k in range(12))
    calibrated = precision.Design(pool=pool, forms=(tuple(item.item_id for item in pool),), pass_percent=70)
    assert precision.assess(calibrated).item_model == "item_difficulties"
    assert precision.assess(calibrated).pass_below_cut == pytest.approx(binomial_tail(12, 0.55, 9), abs=1e-9)
    # Unequal ones: at the ability for a true score of 55%, the items average 55% and the score is the
    # compound binomial of their probabilities.
    spread = tuple(precision.Item(f"i{k}", 1 + k % 2, -1.5 + 0.3 * k) for k in range(12))
    design = precision.Design(pool=spread, forms=(tuple(item.item_id for item in spread),), pass_percent=70)
    theta = precision.ability_for(spread, 0.55)
    chances = [precision.success_probability(theta, item.difficulty or 0.0) for item in spread]
    assert sum(c * item.points for c, item in zip(chances, spread, strict=True)) / 18 == pytest.approx(0.55)
    assert precision.design_pass_probability(design, 0.55) == pytest.approx(
        brute_force_pass([item.points for item in spread], chances, 70), abs=1e-9
    )
    # A facility turns into the difficulty at which an average candidate (ability 0) has that chance.
    assert precision.success_probability(0.0, precision.facility_difficulty(0.8)) == pytest.approx(0.8)


def test_pooled_forms_average_their_pass_probabilities() -> None:
    pool = tuple(precision.Item(f"i{k}", 1 if k < 6 else 2, None) for k in range(12))
    forms = (("i0", "i1", "i2", "i3"), ("i6", "i7", "i8", "i9"), ("i0", "i1", "i6", "i7"))
    design = precision.Design(pool=pool, forms=forms, pass_percent=70)
    expected = sum(
        brute_force_pass([1 if int(item_id[1:]) < 6 else 2 for item_id in form], [0.55] * 4, 70) for form in forms
    ) / 3
    assert precision.design_pass_probability(design, 0.55) == pytest.approx(expected, abs=1e-12)
    assert precision.assess(design).forms == 3


# --- reliability from first attempts ----------------------------------------------------------------------------

def rasch_attempts(items: int, people: int, seed: int, draw: int | None = None) -> list[list[dict[str, Any]]]:
    rng = random.Random(seed)
    difficulties = [rng.uniform(-1.5, 1.5) for _ in range(items)]
    attempts = []
    for _ in range(people):
        theta = rng.gauss(0, 1)
        shown = sorted(rng.sample(range(items), draw)) if draw else range(items)
        attempts.append([
            {"item_id": f"i{k}", "score": int(rng.random() < precision.success_probability(theta, difficulties[k])),
             "max_score": 1}
            for k in shown
        ])
    return attempts


def kr20(attempts: list[list[dict[str, Any]]]) -> float:
    """KR-20 as Kuder and Richardson wrote it: k/(k-1) (1 - sum p q / var(total)), population variances."""
    k, n = len(attempts[0]), len(attempts)
    totals = [sum(entry["score"] for entry in attempt) for attempt in attempts]
    mean = sum(totals) / n
    variance = sum((t - mean) ** 2 for t in totals) / n
    shares = [sum(attempt[i]["score"] for attempt in attempts) / n for i in range(k)]
    return k / (k - 1) * (1 - sum(p * (1 - p) for p in shares) / variance)


def test_kr20_of_attempts_that_share_their_items() -> None:
    attempts = rasch_attempts(20, 300, seed=5)
    result = statistics.reliability(attempts, min_attempts=30)
    assert (result.method, result.estimation, result.items_per_attempt) == ("kr20", "complete", 20)
    assert result.coefficient == pytest.approx(kr20(attempts), abs=1e-9)
    totals = [sum(entry["score"] for entry in attempt) for attempt in attempts]
    sd = math.sqrt(sum((t - sum(totals) / 300) ** 2 for t in totals) / 299)
    assert result.sem_points == pytest.approx(sd * math.sqrt(1 - kr20(attempts)), rel=1e-6)
    assert result.sem_percent == pytest.approx(100 * (result.sem_points or 0) / 20)


def test_too_few_first_attempts_give_no_figure() -> None:
    result = statistics.reliability(rasch_attempts(10, 29, seed=1), min_attempts=30).to_json()
    assert result["first_attempts"] == 29 and result["coefficient"] is None and result["sem_points"] is None


def test_pooled_draws_estimate_the_alpha_of_a_typical_attempt() -> None:
    # 10 of 30 items per attempt: pairwise estimates recover the alpha that complete 10-item forms have.
    pooled = statistics.reliability(rasch_attempts(30, 3000, seed=9, draw=10), min_attempts=30)
    assert pooled.estimation == "pairwise" and pooled.items_per_attempt == 10
    complete = statistics.reliability(rasch_attempts(30, 3000, seed=9), min_attempts=30).coefficient or 0.0
    # Spearman-Brown from 30 items down to 10 (the same items and people model).
    expected = (complete / 3) / (1 - complete + complete / 3)
    assert pooled.coefficient == pytest.approx(expected, abs=0.02)


# --- the gate over HTTP, under the product default ----------------------------------------------------------------

@pytest.fixture
def gated(settings: Settings) -> Iterator[TestClient]:
    """The app with the precision gate as a deployment gets it (on, at most 10% passes 15 points below)."""
    defaults = Settings()
    product = settings.model_copy(update={
        "precision_gate": defaults.precision_gate, "max_pass_below_cut": defaults.max_pass_below_cut,
        "precision_margin_points": defaults.precision_margin_points, "reliability_min_first_attempts": 5,
    })
    assert (product.precision_gate, product.max_pass_below_cut, product.precision_margin_points) == ("on", 0.10, 15)
    with TestClient(create_app(product), base_url=PUBLIC_URL) as client:
        yield client


def draft(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/assessments", json={"skill": "python", "level": "intermediate", **fields},
                           headers=ADMIN)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_ten_item_design_at_70_is_refused_with_its_figures(gated: TestClient) -> None:
    ten = draft(gated, item_count=10, item_types=["single_choice"], seed=3)
    assert {item["points"] for item in ten["items"]} == {1}
    response = gated.post(f"/v1/assessments/{ten['id']}/publish", headers=ADMIN)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "insufficient_precision"
    figures = body["precision"]
    assert figures["pass_below_cut"] == pytest.approx(binomial_tail(10, 0.55, 7), abs=1e-4)  # 26.6%
    assert not figures["meets_rule"] and figures["attempt_length"] == 10
    shortest = figures["minimum_attempt_length"]
    assert binomial_tail(shortest, 0.55, math.ceil(0.7 * shortest)) <= 0.10
    assert "26.6%" in body["detail"] and "10%" in body["detail"] and f"at least {shortest} items" in body["detail"]
    still = gated.get(f"/v1/assessments/{ten['id']}", headers=ADMIN).json()
    assert still["status"] == "draft" and still["content_hash"] is None


def test_a_design_that_meets_the_rule_is_published_and_states_its_precision(gated: TestClient) -> None:
    thirty = draft(gated, item_count=30, seed=4)
    response = gated.post(f"/v1/assessments/{thirty['id']}/publish", headers=ADMIN)
    assert response.status_code == 200, response.text
    stated = response.json()["precision"]
    points = [item["points"] for item in thirty["items"]]
    # Independently: the score is a sum of independent items, each right (its points) at 55% / 85%; the draw may
    # hold 1-, 2- and 3-point items (performance tasks weigh more), so the score's distribution is convolved.
    need = math.ceil(0.7 * sum(points))

    def pass_chance(p: float) -> float:
        chances = {0: 1.0}
        for value in points:
            step: dict[int, float] = {}
            for total, chance in chances.items():
                step[total] = step.get(total, 0.0) + chance * (1 - p)
                step[total + value] = step.get(total + value, 0.0) + chance * p
            chances = step
        return sum(chance for total, chance in chances.items() if total >= need)

    assert stated["pass_below_cut"] == pytest.approx(pass_chance(0.55), abs=1e-4)
    assert stated["fail_above_cut"] == pytest.approx(1 - pass_chance(0.85), abs=1e-4)
    assert stated["pass_below_cut"] <= 0.10 and stated["meets_rule"] and stated["attempt_length"] == 30
    assert 0.5 < stated["decision_consistency"] < 1 and stated["forms"] == 1
    # What a learner and a client see: the figures, not the admin's rule details.
    learner = new_learner(gated)
    shown = gated.get(f"/v1/assessments/{thirty['id']}", headers=learner["headers"]).json()["precision"]
    assert shown["pass_below_cut"] == stated["pass_below_cut"] and "minimum_attempt_length" not in shown
    assert set(shown) <= set(stated)
    evidence = gated.get(f"/v1/assessments/{thirty['id']}/evidence").json()["precision"]
    assert evidence == shown
    # The credential says it too.
    attempt = start(gated, response.json(), learner)
    grade = gated.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                       json={"responses": correct_responses(keyed(gated, attempt))}).json()
    credential = gated.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    narrative = credential["credential"]["evidence"][0]["narrative"]
    assert f"15 points below the pass mark passes {stated['pass_below_cut']:.1%}" in narrative
    assert "without meeting" not in narrative


def test_a_pool_is_judged_by_the_attempts_it_draws(gated: TestClient) -> None:
    pooled = draft(gated, item_count=30, attempt_item_count=10, seed=4)
    response = gated.post(f"/v1/assessments/{pooled['id']}/publish", headers=ADMIN)
    assert response.status_code == 422 and response.json()["precision"]["attempt_length"] == 10
    assert response.json()["precision"]["forms"] > 1


def test_the_gate_can_be_turned_off_and_credentials_then_say_so(settings: Settings) -> None:
    loose = settings.model_copy(update={"precision_gate": "off"})
    with TestClient(create_app(loose), base_url=PUBLIC_URL) as client:
        small = draft(client, item_count=6, seed=2)
        published = client.post(f"/v1/assessments/{small['id']}/publish", headers=ADMIN)
        assert published.status_code == 200 and published.json()["precision"]["meets_rule"] is False
        learner = new_learner(client)
        attempt = start(client, published.json(), learner)
        grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                            json={"responses": correct_responses(keyed(client, attempt))}).json()
        credential = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    assert "published without meeting the issuer's precision rule" in credential["credential"]["evidence"][0][
        "narrative"]
    lenient = settings.model_copy(update={"precision_gate": "on", "max_pass_below_cut": 1.0})
    with TestClient(create_app(lenient), base_url=PUBLIC_URL) as client:
        small = draft(client, item_count=6, seed=2)
        assert client.post(f"/v1/assessments/{small['id']}/publish", headers=ADMIN).status_code == 200


def test_reliability_comes_from_first_attempts_once_there_are_enough(gated: TestClient) -> None:
    assessment = draft(gated, item_count=30, seed=4)
    assert gated.post(f"/v1/assessments/{assessment['id']}/publish", headers=ADMIN).status_code == 200
    url = f"/v1/assessments/{assessment['id']}/reliability"
    rng = random.Random(8)
    first_attempt_scores = []
    for learner_number in range(6):
        learner = new_learner(gated)
        ability = 0.2 + 0.12 * learner_number
        for attempt_number in (1, 2) if learner_number == 0 else (1,):
            attempt = keyed(gated, start(gated, assessment, learner))
            responses = [{"item_id": item["id"], "answer": item["answer"] if rng.random() < ability
                          else wrong_answer(item)} for item in attempt["items"]]
            grade = gated.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                               json={"responses": responses})
            assert grade.status_code == 200, grade.text
            if attempt_number == 1:
                view = gated.get(f"/v1/attempts/{attempt['id']}", headers=ADMIN).json()["grade"]["items"]
                first_attempt_scores.append(view)
        if learner_number == 3:
            early = gated.get(url, headers=ADMIN).json()
            assert early["first_attempts"] == 4 and early["coefficient"] is None and early["min_first_attempts"] == 5
    result = gated.get(url, headers=ADMIN).json()
    assert result["first_attempts"] == 6  # the retake is left out
    # Cronbach's alpha of the six first attempts, computed here from the item scores the API shows.
    matrix = [[entry["score"] for entry in sorted(scores, key=lambda e: e["bank_item_id"])]
              for scores in first_attempt_scores]
    k = len(matrix[0])

    def variance(values: list[float]) -> float:
        mean = sum(values) / len(values)
        return sum((v - mean) ** 2 for v in values) / (len(values) - 1)

    alpha = k / (k - 1) * (1 - sum(variance([row[i] for row in matrix]) for i in range(k))
                           / variance([sum(row) for row in matrix]))
    assert result["coefficient"] == pytest.approx(alpha, abs=1e-4)
    assert result["estimation"] == "complete" and result["items_per_attempt"] == 30
    learner = new_learner(gated)
    assert gated.get(url, headers=learner["headers"]).status_code == 403
