"""Taking an assessment: starting, submitting exactly once, grading, and what learners may see."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from app.assessments.models import Grade
from app.credentials.models import Credential
from app.deps import get_clock
from tests.factories import ADMIN, correct_responses, keyed, new_assessment, new_learner, start, wrong_answer

SECRET_FIELDS = {"answer", "explanation", "tolerance", "rubric", "seed", "variants", "compare", "runner"}


def _keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | set().union(*(_keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys_anywhere(v) for v in value)) if value else set()
    return set()


def test_learner_responses_never_contain_answers_or_explanations(client: TestClient) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client, skill="sql", item_count=8)
    bodies = [
        client.get("/v1/assessments", headers=learner["headers"]).json(),
        client.get(f"/v1/assessments/{assessment['id']}", headers=learner["headers"]).json(),
    ]
    attempt = start(client, assessment, learner)
    bodies.append(attempt)
    bodies.append(client.get(f"/v1/attempts/{attempt['id']}", headers=learner["headers"]).json())
    for body in bodies:
        assert not _keys_anywhere(body) & SECRET_FIELDS, body
    explanations = [item["explanation"] for item in assessment["items"]]
    for body in bodies:
        text = json.dumps(body)
        assert not any(explanation in text for explanation in explanations)


def test_attempt_shows_items_without_keys_with_shuffled_options_and_deadline(client: TestClient) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client, item_count=10, time_limit_seconds=600)
    orders = set()
    for _ in range(4):
        attempt = start(client, assessment, learner)
        assert attempt["status"] == "in_progress"
        started = dt.datetime.fromisoformat(attempt["started_at"])
        expires = dt.datetime.fromisoformat(attempt["expires_at"])
        assert expires - started == dt.timedelta(seconds=600)
        admin_items = {item["id"]: item for item in assessment["items"]}
        bank_id_of = {item["id"]: item["bank_item_id"] for item in keyed(client, attempt)["items"]}
        assert set(bank_id_of.values()) == set(admin_items)
        assert not set(bank_id_of) & set(admin_items), "attempts never show the assessment's item ids"
        for item in attempt["items"]:
            assert set(item) <= {"id", "type", "prompt", "options", "points"}
            if "options" in item and item["options"] is not None:
                admin_options = admin_items[bank_id_of[item["id"]]]["options"]
                assert {o["id"] for o in item["options"]} == {o["id"] for o in admin_options}
        orders.add(tuple(bank_id_of[item["id"]] for item in attempt["items"]))
    assert len(orders) > 1, "item order should differ between attempts"


def test_perfect_submit_passes_and_issues_credential(client: TestClient) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client)
    attempt = start(client, assessment, learner)
    response = client.post(
        f"/v1/attempts/{attempt['id']}/submit",
        json={"responses": correct_responses(keyed(client, attempt))},
        headers=learner["headers"],
    )
    assert response.status_code == 200
    grade = response.json()
    assert grade["status"] == "graded" and grade["passed"] is True
    assert grade["percent"] == 100 and grade["score"] == grade["max_score"]
    assert "items" not in grade  # learners get no per-item scores by default
    assert grade["credential_id"]
    shown = client.get(f"/v1/attempts/{attempt['id']}", headers=learner["headers"]).json()
    assert shown["status"] == "graded" and shown["grade"]["credential_id"] == grade["credential_id"]
    assert "items" not in shown["grade"]
    admin_grade = keyed(client, attempt)["grade"]
    assert {item["item_id"] for item in admin_grade["items"]} == {item["id"] for item in attempt["items"]}
    assert {item["bank_item_id"] for item in admin_grade["items"]} == {item["id"] for item in assessment["items"]}


def test_failing_submit_gives_no_credential(client: TestClient) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client)
    attempt = start(client, assessment, learner)
    responses = [{"item_id": item["id"], "answer": wrong_answer(item)} for item in keyed(client, attempt)["items"]]
    grade = client.post(
        f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses}, headers=learner["headers"]
    ).json()
    assert grade["passed"] is False and grade["score"] == 0 and grade["credential_id"] is None


def test_grade_is_the_same_for_the_same_answers(client: TestClient) -> None:
    assessment = new_assessment(client, skill="git", item_count=10)
    half = {item["id"] for item in assessment["items"][:5]}
    grades = []
    for _ in range(2):
        learner = new_learner(client)
        attempt = start(client, assessment, learner)
        view = keyed(client, attempt)
        responses = [{"item_id": item["id"], "answer": item["answer"]} for item in view["items"]
                     if item["bank_item_id"] in half]
        grade = client.post(
            f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses}, headers=learner["headers"]
        ).json()
        scored = keyed(client, attempt)["grade"]["items"]
        items = sorted((i["bank_item_id"], i["score"], i["max_score"]) for i in scored)
        totals = {k: grade[k] for k in ("score", "max_score", "percent", "passed", "criteria")}
        grades.append({**totals, "items": items})
    assert grades[0] == grades[1]


def test_second_submit_is_409_and_idempotency_key_replays_exact_bytes(client: TestClient) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client)
    attempt = start(client, assessment, learner)
    url = f"/v1/attempts/{attempt['id']}/submit"
    body = {"responses": correct_responses(keyed(client, attempt))}
    headers = {**learner["headers"], "Idempotency-Key": "submit-1"}
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    other_body = client.post(url, json={"responses": body["responses"][:1]}, headers=headers)
    assert other_body.status_code == 422 and other_body.json()["error"] == "idempotency_key_reused"
    no_key = client.post(url, json=body, headers=learner["headers"])
    assert no_key.status_code == 409 and no_key.json()["error"] == "already_submitted"
    other_key = client.post(url, json=body, headers={**learner["headers"], "Idempotency-Key": "submit-2"})
    assert other_key.status_code == 409 and other_key.json()["error"] == "already_submitted"


def test_submit_after_deadline_is_409_and_changes_nothing(client: TestClient) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client, time_limit_seconds=60)
    attempt = start(client, assessment, learner)
    late = dt.datetime.fromisoformat(attempt["expires_at"]) + dt.timedelta(seconds=1)
    responses = correct_responses(keyed(client, attempt))
    client.app.dependency_overrides[get_clock] = lambda: late  # type: ignore[attr-defined]
    try:
        response = client.post(
            f"/v1/attempts/{attempt['id']}/submit",
            json={"responses": responses},
            headers=learner["headers"],
        )
        shown = client.get(f"/v1/attempts/{attempt['id']}", headers=learner["headers"]).json()
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert response.status_code == 409 and response.json()["error"] == "attempt_expired"
    assert shown["status"] == "expired" and shown["grade"] is None


def _choice(assessment: dict[str, Any]) -> dict[str, Any]:
    return next(item for item in assessment["items"] if item["type"] == "single_choice")


@pytest.mark.parametrize(
    "make_responses, fragment",
    [
        (lambda a: [{"item_id": "no-such-item", "answer": "x"}], "unknown item"),
        (lambda a: [correct_responses(a)[0], correct_responses(a)[0]], "more than one"),
        (lambda a: [{"item_id": _choice(a)["id"], "answer": {"not": "a valid shape"}}], "answer must"),
        (lambda a: [{"item_id": _choice(a)["id"], "answer": "not-an-option"}], "answer must"),
        (lambda a: [{"item_id": _choice(a)["id"]}], "answer"),
    ],
)
def test_ungradeable_responses_are_422_and_change_nothing(
    client: TestClient, settings: Any, make_responses: Any, fragment: str
) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client, item_count=8, seed=11)
    attempt = start(client, assessment, learner)
    view = keyed(client, attempt)
    url = f"/v1/attempts/{attempt['id']}/submit"
    response = client.post(url, json={"responses": make_responses(view)}, headers=learner["headers"])
    assert response.status_code == 422, response.text
    assert response.json()["error"] in ("invalid_response", "validation_error")
    assert fragment in response.json()["detail"]
    assert not any(item["id"] in response.json()["detail"] for item in assessment["items"])
    # Nothing was written: a valid submit afterwards still works.
    ok = client.post(url, json={"responses": correct_responses(view)}, headers=learner["headers"])
    assert ok.status_code == 200


def test_malformed_submit_bodies_are_422_json(client: TestClient) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client)
    attempt = start(client, assessment, learner)
    url = f"/v1/attempts/{attempt['id']}/submit"
    for content in (b"{", b"[]", b'{"responses": 5}', b'{"responses": [], "extra": 1}', b"\xff\xfe"):
        response = client.post(url, content=content, headers={**learner["headers"], "content-type": "application/json"})
        assert response.status_code == 422, content
        assert set(response.json()) == {"error", "detail"}


def test_concurrent_submits_make_one_grade_and_one_credential(client: TestClient, settings: Any) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client)
    attempt = start(client, assessment, learner)
    url = f"/v1/attempts/{attempt['id']}/submit"
    body = {"responses": correct_responses(keyed(client, attempt))}
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        statuses.append(client.post(url, json=body, headers=learner["headers"]).status_code)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7
    engine = create_engine(settings.sqlalchemy_url)
    with engine.connect() as connection:
        grades = connection.scalar(select(func.count()).select_from(Grade).where(Grade.attempt_id == attempt["id"]))
        credentials = connection.scalar(
            select(func.count()).select_from(Credential).where(Credential.attempt_id == attempt["id"])
        )
    engine.dispose()
    assert (grades, credentials) == (1, 1)


def test_learners_only_see_their_own_attempts_and_credentials(client: TestClient) -> None:
    owner = new_learner(client)
    other = new_learner(client)
    assessment = new_assessment(client)
    attempt = start(client, assessment, owner)
    grade = client.post(
        f"/v1/attempts/{attempt['id']}/submit",
        json={"responses": correct_responses(keyed(client, attempt))},
        headers=owner["headers"],
    ).json()
    for path in (f"/v1/attempts/{attempt['id']}", f"/v1/credentials/{grade['credential_id']}"):
        assert client.get(path, headers=other["headers"]).status_code == 404
        assert client.get(path, headers=owner["headers"]).status_code == 200
        assert client.get(path, headers=ADMIN).status_code == 200
    stolen = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": []}, headers=other["headers"])
    assert stolen.status_code == 404
    mine = client.get("/v1/learners/me/credentials", headers=owner["headers"]).json()
    assert [c["id"] for c in mine] == [grade["credential_id"]]
    assert client.get("/v1/learners/me/credentials", headers=other["headers"]).json() == []


def test_a_short_time_limit_expires_in_real_time(client: TestClient) -> None:
    learner = new_learner(client)
    assessment = new_assessment(client, item_count=2, time_limit_seconds=1)
    attempt = start(client, assessment, learner)
    responses = correct_responses(keyed(client, attempt))
    import time

    time.sleep(1.2)
    late = client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses},
                       headers=learner["headers"])
    assert late.status_code == 409 and late.json()["error"] == "attempt_expired"
