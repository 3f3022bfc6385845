"""Drafting from the bank, publishing, freezing."""

from __future__ import annotations

import hashlib

import rfc8785
from fastapi.testclient import TestClient

from tests.factories import ADMIN, new_assessment, new_learner


def test_skills_list_the_bank(client: TestClient) -> None:
    skills = client.get("/v1/skills", headers=ADMIN).json()
    assert len(skills) >= 6
    for skill in skills:
        assert set(skill) == {"id", "name", "description", "levels"} and len(skill["levels"]) >= 2


def test_same_seed_gives_the_same_draft(client: TestClient) -> None:
    first = new_assessment(client, publish=False, seed=42, item_count=8)
    second = new_assessment(client, publish=False, seed=42, item_count=8)
    third = new_assessment(client, publish=False, seed=43, item_count=8)
    assert first["items"] == second["items"] and first["seed"] == 42
    assert [i["id"] for i in first["items"]] != [i["id"] for i in third["items"]]
    assert first["status"] == "draft" and first["content_hash"] is None


def test_admin_view_has_keys_and_explanations(client: TestClient) -> None:
    assessment = new_assessment(client, publish=False, skill="python", item_count=10, seed=3)
    for item in assessment["items"]:
        assert item["answer"] is not None and item["explanation"]
        if item["type"] == "numeric":
            assert item["tolerance"] is not None


def test_publish_freezes_with_the_documented_content_hash(client: TestClient) -> None:
    assessment = new_assessment(client, item_count=5)
    assert assessment["status"] == "published"
    expected = hashlib.sha256(rfc8785.dumps({"items": assessment["items"], "rubric": assessment["rubric"]})).hexdigest()
    assert assessment["content_hash"] == expected
    again = client.post(f"/v1/assessments/{assessment['id']}/publish", headers=ADMIN)
    assert again.status_code == 409 and again.json()["error"] == "already_published"
    fetched = client.get(f"/v1/assessments/{assessment['id']}", headers=ADMIN).json()
    assert fetched["content_hash"] == expected and fetched["items"] == assessment["items"]


def test_learners_see_published_assessments_only(client: TestClient) -> None:
    learner = new_learner(client)
    draft = new_assessment(client, publish=False)
    published = new_assessment(client)
    listed = {a["id"] for a in client.get("/v1/assessments", headers=learner["headers"]).json()}
    assert published["id"] in listed and draft["id"] not in listed
    assert client.get(f"/v1/assessments/{draft['id']}", headers=learner["headers"]).status_code == 404
    assert client.post(f"/v1/assessments/{draft['id']}/attempts", headers=learner["headers"]).status_code == 404


def test_bad_assessment_requests_are_422(client: TestClient) -> None:
    cases = [
        ({"skill": "juggling", "level": "foundation", "item_count": 3}, "unknown_skill"),
        ({"skill": "python", "level": "wizard", "item_count": 3}, "unknown_level"),
        ({"skill": "python", "level": "foundation", "item_count": 500}, "validation_error"),
        ({"skill": "python", "level": "foundation", "item_count": 99}, "not_enough_items"),
        ({"skill": "python", "level": "foundation", "item_count": 0}, "validation_error"),
        ({"skill": "python", "level": "foundation", "item_count": 3, "pass_percent": 101}, "validation_error"),
        ({"skill": "python", "level": "foundation", "item_count": 3, "generator": "llm"}, "generator_unavailable"),
        ({"skill": "python", "level": "foundation", "item_count": 3, "attempt_item_count": 4}, "validation_error"),
    ]
    before = len(client.get("/v1/assessments", headers=ADMIN).json())
    for body, code in cases:
        response = client.post("/v1/assessments", json=body, headers=ADMIN)
        assert response.status_code == 422, body
        assert response.json()["error"] == code, response.json()
    assert len(client.get("/v1/assessments", headers=ADMIN).json()) == before


def test_unknown_ids_are_404(client: TestClient) -> None:
    for method, path in (
        ("get", "/v1/assessments/nope"),
        ("post", "/v1/assessments/nope/publish"),
        ("get", "/v1/attempts/nope"),
        ("get", "/v1/credentials/nope"),
        ("get", "/v1/nothing"),
    ):
        response = getattr(client, method)(path, headers=ADMIN)
        assert response.status_code == 404 and response.json()["error"] == "not_found"
