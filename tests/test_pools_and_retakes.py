"""Pools larger than an attempt, fair draws, retakes and cooldowns."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from app.assessments.freeze import draw_items
from app.deps import get_clock
from tests.factories import correct_responses, new_assessment, new_learner, start


def test_each_attempt_draws_from_the_pool_and_retakes_avoid_seen_items(client: TestClient) -> None:
    assessment = new_assessment(client, item_count=12, attempt_item_count=4, skill="sql")
    assert assessment["pool_size"] == 12 and assessment["item_count"] == 4
    learner = new_learner(client)
    seen: set[str] = set()
    for _ in range(3):
        attempt = start(client, assessment, learner)
        drawn = {item["id"] for item in attempt["items"]}
        assert len(drawn) == 4 and not drawn & seen
        seen |= drawn
    fourth = {item["id"] for item in start(client, assessment, learner)["items"]}
    assert len(fourth) == 4  # the pool is used up: items repeat now


def test_grade_counts_only_the_drawn_items(client: TestClient) -> None:
    assessment = new_assessment(client, item_count=10, attempt_item_count=3)
    learner = new_learner(client)
    attempt = start(client, assessment, learner)
    drawn = {item["id"] for item in attempt["items"]}
    url = f"/v1/attempts/{attempt['id']}/submit"
    # An item of the pool that this attempt did not show is not gradeable here: 422, nothing stored.
    undrawn = next(r for r in correct_responses(assessment) if r["item_id"] not in drawn)
    refused = client.post(url, json={"responses": [undrawn]}, headers=learner["headers"])
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_response"
    responses = [r for r in correct_responses(assessment) if r["item_id"] in drawn]
    grade = client.post(url, json={"responses": responses}, headers=learner["headers"]).json()
    assert {entry["item_id"] for entry in grade["items"]} == drawn and grade["percent"] == 100


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
