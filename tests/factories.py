"""Helpers that create what tests need through the public API."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from tests.conformance import assert_issued
from tests.conftest import ADMIN_KEY

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_learner(client: TestClient, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/learners", json={"name": "Test Learner", **fields}, headers=ADMIN)
    assert response.status_code == 201, response.text
    learner: dict[str, Any] = response.json()
    learner["headers"] = bearer(learner["api_key"])
    return learner


def new_assessment(client: TestClient, *, publish: bool = True, **fields: Any) -> dict[str, Any]:
    body = {"skill": "python", "level": "foundation", "item_count": 6, **fields}
    response = client.post("/v1/assessments", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    assessment: dict[str, Any] = response.json()
    if publish:
        response = client.post(f"/v1/assessments/{assessment['id']}/publish", headers=ADMIN)
        assert response.status_code == 200, response.text
        assessment = response.json()
    return assessment


def correct_responses(keyed: dict[str, Any]) -> list[dict[str, Any]]:
    """The keys of an admin view (of an attempt, or of an assessment for attempts without opaque ids)."""
    return [{"item_id": item["id"], "answer": item["answer"]} for item in keyed["items"]]


def keyed(client: TestClient, attempt: dict[str, Any]) -> dict[str, Any]:
    """The admin view of an attempt: its items under the attempt's own ids, with their keys."""
    response = client.get(f"/v1/attempts/{attempt['id']}", headers=ADMIN)
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


def under_attempt_ids(client: TestClient, attempt: dict[str, Any], responses: list[dict[str, Any]]) -> list[Any]:
    """Responses written with the assessment's item ids, renamed to the attempt's own ids (drawn items only)."""
    alias = {item["bank_item_id"]: item["id"] for item in keyed(client, attempt)["items"]}
    return [{**response, "item_id": alias[response["item_id"]]} for response in responses
            if response["item_id"] in alias]


def wrong_answer(item: dict[str, Any]) -> Any:
    """An answer of the right shape that earns nothing."""
    kind = item["type"]
    if kind == "single_choice":
        return next(option["id"] for option in item["options"] if option["id"] != item["answer"])
    if kind == "multiple_response":
        return [option["id"] for option in item["options"] if option["id"] not in item["answer"]]
    if kind == "short_text":
        return "certainly not the answer"
    if kind == "ordering":
        return list(reversed(item["answer"]))
    if kind == "sql_query":
        return "SELECT 1 WHERE 0"
    if kind == "python_function":
        return f"def {item['function']['name']}(*args):\n    return None\n"
    if kind == "matching":
        rights = [option["id"] for option in item["options"] if option.get("side") == "right"]
        return {left: next(r for r in rights if r != right) for left, right in item["answer"].items()}
    return item["answer"] + 1000


def start(client: TestClient, assessment: dict[str, Any], learner: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner["headers"])
    assert response.status_code == 201, response.text
    attempt: dict[str, Any] = response.json()
    return attempt


def earn_credential(
    client: TestClient, *, learner: dict[str, Any] | None = None, legacy_status: bool = False,
    **assessment_fields: Any,
) -> dict[str, Any]:
    """A learner (a new one unless given) passes a new assessment; returns learner, assessment, grade, credential.

    Every credential is checked against OB 3.0 (tests/conformance.py), except the two-entry status form issued
    before issue 7 (legacy_status), which the schema refuses by design.
    """
    learner = learner or new_learner(client)
    assessment = new_assessment(client, **assessment_fields)
    attempt = start(client, assessment, learner)
    response = client.post(
        f"/v1/attempts/{attempt['id']}/submit",
        json={"responses": correct_responses(keyed(client, attempt))},
        headers=learner["headers"],
    )
    assert response.status_code == 200, response.text
    grade = response.json()
    credential = client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner["headers"]).json()
    if not legacy_status:
        assert_issued(credential)
    return {"learner": learner, "assessment": assessment, "attempt": attempt, "grade": grade, "credential": credential}


def verify_response(client: TestClient, credential: Any) -> dict[str, Any]:
    """POST /v1/credentials/verify of one credential: the 200 response body (verified or not)."""
    response = client.post("/v1/credentials/verify", json={"verifiableCredential": credential})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["verified"] is (not result["errors"])
    return result


def verify_codes(client: TestClient, credential: Any) -> list[str]:
    """The error codes of verifying one credential (empty when it verifies)."""
    return [error["code"] for error in verify_response(client, credential)["errors"]]


def clear_of_a_minute_boundary(seconds: float = 5.0) -> None:
    """Wait for the next minute if fewer than `seconds` are left in this one. A test counting requests to an
    "N/minute" limit must not straddle a minute: the limiter's sliding window floors the weighted count of the
    previous minute, so just after the boundary it lets one more request through (the limits library's
    approximation, harmless in service; a test asserting the exact 429 failed on it once in CI)."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)

