"""Reviewing drafts, versions, voiding items with regrading, item statistics, and the regrade check."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.config import Settings
from tests.factories import (
    ADMIN,
    correct_responses,
    keyed,
    new_assessment,
    new_learner,
    start,
    under_attempt_ids,
    wrong_answer,
)


def _choice_item(assessment: dict[str, Any]) -> dict[str, Any]:
    return next(item for item in assessment["items"] if item["type"] == "single_choice")


def test_draft_items_can_be_edited_replaced_added_and_dropped(client: TestClient) -> None:
    draft = new_assessment(client, publish=False, item_count=6, seed=5)
    item = _choice_item(draft)
    base = f"/v1/assessments/{draft['id']}/items"
    edited = client.patch(f"{base}/{item['id']}", json={"prompt": "Reworded: " + item["prompt"]}, headers=ADMIN)
    assert edited.status_code == 200
    assert next(i for i in edited.json()["items"] if i["id"] == item["id"])["prompt"].startswith("Reworded: ")
    wrong_key = client.patch(f"{base}/{item['id']}", json={"answer": "not-an-option"}, headers=ADMIN)
    assert wrong_key.status_code == 422 and wrong_key.json()["error"] == "item_invalid"
    assert "key_not_an_option" in wrong_key.json()["detail"]
    replacement = {
        "type": "short_text", "prompt": "Which keyword defines a function in Python?", "points": 1,
        "answer": "def", "accepted_answers": [], "explanation": "`def` starts a function definition.",
    }
    replaced = client.put(f"{base}/{item['id']}", json=replacement, headers=ADMIN)
    assert replaced.status_code == 200
    assert next(i for i in replaced.json()["items"] if i["id"] == item["id"])["type"] == "short_text"
    added = client.post(base, json={
        "type": "ordering", "prompt": "Order these from smallest to largest.", "points": 2,
        "options": [{"text": "1 KB"}, {"text": "1 MB"}, {"text": "1 GB"}], "answer": [],
        "explanation": "Each unit is about a thousand times the one before.",
    }, headers=ADMIN)
    assert added.status_code == 422  # an empty order is not a key
    dropped = client.delete(f"{base}/{item['id']}", headers=ADMIN)
    assert dropped.status_code == 200 and len(dropped.json()["items"]) == 5
    assert client.delete(f"{base}/no-such-item", headers=ADMIN).status_code == 404


def test_published_assessments_never_change(client: TestClient) -> None:
    published = new_assessment(client, item_count=4)
    item = published["items"][0]
    response = client.patch(f"/v1/assessments/{published['id']}/items/{item['id']}", json={"prompt": "x"},
                            headers=ADMIN)
    assert response.status_code == 409 and response.json()["error"] == "assessment_frozen"
    after = client.get(f"/v1/assessments/{published['id']}", headers=ADMIN).json()
    assert after["items"] == published["items"] and after["content_hash"] == published["content_hash"]


def test_a_new_version_supersedes_and_old_credentials_keep_their_version(client: TestClient) -> None:
    learner = new_learner(client)
    first = new_assessment(client, item_count=4)
    attempt = start(client, first, learner)
    responses = correct_responses(keyed(client, attempt))
    grade = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                        headers=learner["headers"]).json()
    draft = client.post(f"/v1/assessments/{first['id']}/versions", headers=ADMIN)
    assert draft.status_code == 201
    second = draft.json()
    assert second["version"] == 2 and second["supersedes_id"] == first["id"] and second["status"] == "draft"
    again = client.post(f"/v1/assessments/{first['id']}/versions", headers=ADMIN)
    assert again.status_code == 409
    published = client.post(f"/v1/assessments/{second['id']}/publish", headers=ADMIN).json()
    assert published["status"] == "published"
    assert client.get(f"/v1/assessments/{first['id']}", headers=ADMIN).json()["status"] == "superseded"
    blocked = client.post(f"/v1/assessments/{first['id']}/attempts", headers=learner["headers"])
    assert blocked.status_code == 409 and blocked.json()["error"] == "assessment_superseded"
    vc = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()["credential"]
    assert vc["evidence"][0]["assessmentId"] == first["id"]
    assert vc["evidence"][0]["contentHash"] == first["content_hash"]


def test_voiding_an_item_regrades_everyone_and_takes_no_credential_away(client: TestClient, settings: Settings) -> None:
    assessment = new_assessment(client, item_count=5, seed=21, pass_percent=80)
    items = assessment["items"]
    target = items[0]
    # Learner A: everything right but the target item -> 4/5 scaled by points; fails at 80 % when points differ.
    responses_a = [{"item_id": item["id"], "answer": item["answer"] if item is not target else wrong_answer(item)}
                   for item in items]
    learner_a, learner_b = new_learner(client), new_learner(client)
    attempt_a = start(client, assessment, learner_a)
    grade_a = client.post(f"/v1/attempts/{attempt_a['id']}/submit",
                          json={"responses": under_attempt_ids(client, attempt_a, responses_a)},
                          headers=learner_a["headers"]).json()
    attempt_b = start(client, assessment, learner_b)
    grade_b = client.post(f"/v1/attempts/{attempt_b['id']}/submit",
                          json={"responses": correct_responses(keyed(client, attempt_b))},
                          headers=learner_b["headers"]).json()
    assert grade_b["passed"] and grade_b["credential_id"]
    voided = client.post(f"/v1/assessments/{assessment['id']}/items/{target['id']}/void",
                         json={"reason": "two defensible answers"}, headers=ADMIN)
    assert voided.status_code == 201, voided.text
    amendment = voided.json()
    assert amendment["regraded_attempts"] == 2 and amendment["item_id"] == target["id"]
    after_a = client.get(f"/v1/attempts/{attempt_a['id']}", headers=learner_a["headers"]).json()["grade"]
    assert after_a["amended"] is True and after_a["percent"] == 100 and after_a["passed"] is True
    admin_after_a = keyed(client, attempt_a)["grade"]
    assert target["id"] not in {entry["bank_item_id"] for entry in admin_after_a["items"]}
    assert after_a["credential_id"] is not None
    assert amendment["newly_passed"] == (0 if grade_a["passed"] else 1)
    after_b = client.get(f"/v1/attempts/{attempt_b['id']}", headers=learner_b["headers"]).json()["grade"]
    assert after_b["passed"] is True and after_b["credential_id"] == grade_b["credential_id"]
    listed = client.get(f"/v1/assessments/{assessment['id']}/amendments", headers=learner_a["headers"]).json()
    assert [a["id"] for a in listed] == [amendment["id"]] and listed[0]["reason"] == "two defensible answers"
    twice = client.post(f"/v1/assessments/{assessment['id']}/items/{target['id']}/void", json={"reason": "again"},
                        headers=ADMIN)
    assert twice.status_code == 409
    # The regrade check reproduces every stored grade exactly.
    import os

    from app import cli

    env = {"SKILLPROOF_DATABASE_URL": settings.sqlalchemy_url, "SKILLPROOF_KEYS_DIR": str(settings.keys_dir)}
    old = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        assert cli.main(["regrade", "--check"]) == 0
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_item_statistics_flag_negative_discrimination(client: TestClient) -> None:
    assessment = new_assessment(client, item_count=5, seed=33)
    items = assessment["items"]
    trick = items[0]
    # Strong learners miss the trick item, weak ones get only it right: negative discrimination.
    patterns = [
        {item["id"]: item is not trick for item in items},
        {item["id"]: item is not trick for item in items},
        {item["id"]: item is trick for item in items},
        {item["id"]: item is trick or item is items[1] for item in items},
    ]
    for right in patterns:
        learner = new_learner(client)
        attempt = start(client, assessment, learner)
        responses = [{"item_id": item["id"], "answer": item["answer"] if right[item["id"]] else wrong_answer(item)}
                     for item in items]
        client.post(f"/v1/attempts/{attempt['id']}/submit",
                    json={"responses": under_attempt_ids(client, attempt, responses)}, headers=learner["headers"])
    stats = {row["item_id"]: row for row in
             client.get(f"/v1/assessments/{assessment['id']}/item-stats", headers=ADMIN).json()}
    assert stats[trick["id"]]["attempts"] == 4 and stats[trick["id"]]["share_correct"] == 0.5
    assert stats[trick["id"]]["discrimination"] < 0 and stats[trick["id"]]["flagged"] is True
    assert stats[items[1]["id"]]["flagged"] is False
    learner = new_learner(client)
    assert client.get(f"/v1/assessments/{assessment['id']}/item-stats", headers=learner["headers"]).status_code == 403
