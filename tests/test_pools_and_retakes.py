"""Pools larger than an attempt, fair draws, retakes and cooldowns."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from app.assessments.freeze import draw_items
from app.assessments.service import SEEN_ATTEMPTS
from app.deps import get_clock
from tests.factories import ADMIN, correct_responses, keyed, new_assessment, new_learner, start


def test_each_attempt_draws_from_the_pool_and_retakes_avoid_seen_items(client: TestClient) -> None:
    assessment = new_assessment(client, item_count=12, attempt_item_count=4, skill="sql")
    assert assessment["pool_size"] == 12 and assessment["item_count"] == 4
    learner = new_learner(client)
    seen: list[set[str]] = []
    for _ in range(3):
        attempt = start(client, assessment, learner)
        drawn = {item["bank_item_id"] for item in keyed(client, attempt)["items"]}
        assert len(drawn) == 4 and not drawn & set().union(*seen)
        seen.append(drawn)
    fourth = {item["bank_item_id"] for item in keyed(client, start(client, assessment, learner))["items"]}
    # The pool is used up: the fourth attempt repeats the items seen longest ago, those of the first attempt.
    assert fourth == seen[0]
    fifth = {item["bank_item_id"] for item in keyed(client, start(client, assessment, learner))["items"]}
    assert fifth == seen[1]


def test_grade_counts_only_the_drawn_items(client: TestClient) -> None:
    assessment = new_assessment(client, item_count=10, attempt_item_count=3)
    learner = new_learner(client)
    attempt = start(client, assessment, learner)
    view = keyed(client, attempt)
    drawn = {item["bank_item_id"] for item in view["items"]}
    url = f"/v1/attempts/{attempt['id']}/submit"
    # An item of the pool that this attempt did not show is not gradeable here: 422, nothing stored.
    undrawn = next(r for r in correct_responses(assessment) if r["item_id"] not in drawn)
    refused = client.post(url, json={"responses": [undrawn]}, headers=learner["headers"])
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_response"
    # Nor is a drawn item under its assessment id: an attempt takes only its own item ids.
    under_bank_id = [{"item_id": item["bank_item_id"], "answer": item["answer"]} for item in view["items"]]
    refused = client.post(url, json={"responses": under_bank_id}, headers=learner["headers"])
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_response"
    grade = client.post(url, json={"responses": correct_responses(view)}, headers=learner["headers"]).json()
    assert grade["percent"] == 100
    admin_grade = client.get(f"/v1/attempts/{attempt['id']}", headers=ADMIN).json()["grade"]
    assert {entry["bank_item_id"] for entry in admin_grade["items"]} == drawn


def test_draws_are_seeded_and_stratified() -> None:
    pool = [{"id": f"i{n}", "criteria": {"a" if n < 6 else "b": 1}, "difficulty": 1 + n % 3} for n in range(12)]
    assert draw_items(pool, 4, seed=7) == draw_items(pool, 4, seed=7)
    for seed in range(30):
        drawn = draw_items(pool, 4, seed=seed)
        criteria = [("a" if int(item_id[1:]) < 6 else "b") for item_id in drawn]
        assert criteria.count("a") == criteria.count("b") == 2


def test_max_attempts_and_cooldown(client: TestClient) -> None:
    assessment = new_assessment(client, item_count=3, max_attempts=2, retake_cooldown_seconds=3600)
    learner = new_learner(client)
    first = start(client, assessment, learner)
    client.post(f"/v1/attempts/{first['id']}/submit", json={"responses": []}, headers=learner["headers"])
    cooling = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner["headers"])
    assert cooling.status_code == 409 and cooling.json()["error"] == "retake_cooldown"
    assert 3590 <= int(cooling.headers["retry-after"]) <= 3600
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    client.app.dependency_overrides[get_clock] = lambda: later  # type: ignore[attr-defined]
    try:
        second = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner["headers"])
        assert second.status_code == 201
        third = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner["headers"])
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert third.status_code == 409 and third.json()["error"] == "attempts_exhausted"


def test_max_attempts_counts_beyond_the_attempts_a_retake_looks_back_on(client: TestClient) -> None:
    # A start reads only the last SEEN_ATTEMPTS attempts for seen items; the cap still counts every attempt.
    allowed = SEEN_ATTEMPTS + 2
    assessment = new_assessment(client, item_count=3, max_attempts=allowed, retake_cooldown_seconds=0)
    learner = new_learner(client)
    for _ in range(allowed):
        start(client, assessment, learner)
    refused = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner["headers"])
    assert refused.status_code == 409 and refused.json()["error"] == "attempts_exhausted"
