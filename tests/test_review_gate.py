"""LLM-generated items are published only after a recorded human review (reviewer, time, checklist)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.assessments.generators.bank import BankGenerator
from app.assessments.review import REVIEW_CHECKLIST
from app.config import Settings
from app.main import create_app
from tests.conftest import PUBLIC_URL, migrated_database
from tests.factories import (
    ADMIN,
    bearer,
    correct_responses,
    keyed,
    new_assessment,
    new_learner,
    start,
    wrong_answer,
)
from tests.llm_server import FakeLlmServer, FakeModel, script_every_type

EVERY_POINT = dict.fromkeys(REVIEW_CHECKLIST, True)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    model = FakeModel()
    script_every_type(model)
    with FakeLlmServer(handler=model) as llm:
        configured = settings.model_copy(update={"llm_base_url": llm.base_url, "llm_model": "fake-model"})
        with TestClient(create_app(configured), base_url=PUBLIC_URL) as test_client:
            yield test_client


def _llm_draft(client: TestClient) -> dict[str, Any]:
    accepted = client.post("/v1/assessments", headers=ADMIN, json={
        "skill": "python", "level": "foundation", "item_count": 6, "generator": "llm", "seed": 5,
        "item_types": ["single_choice", "multiple_response", "numeric", "short_text", "ordering", "matching"],
    })
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 20
    while (job := client.get(f"/v1/jobs/{accepted.json()['job_id']}", headers=ADMIN).json())["status"] in (
        "queued", "running"
    ) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job["status"] == "succeeded", job
    draft: dict[str, Any] = client.get(f"/v1/assessments/{job['assessment_id']}", headers=ADMIN).json()
    return draft


def _review(client: TestClient, assessment_id: str, **body: Any) -> Any:
    return client.post(f"/v1/assessments/{assessment_id}/reviews", headers=ADMIN, json=body)


def test_an_llm_draft_publishes_only_after_an_approving_review_of_its_current_items(client: TestClient) -> None:
    draft = _llm_draft(client)
    publish = f"/v1/assessments/{draft['id']}/publish"
    refused = client.post(publish, headers=ADMIN)
    assert refused.status_code == 409 and refused.json()["error"] == "review_required"
    assert f"/v1/assessments/{draft['id']}/reviews" in refused.json()["detail"]

    listing = client.get(f"/v1/assessments/{draft['id']}/reviews", headers=ADMIN).json()
    assert listing["review_required"] is True and listing["current_approval"] is None
    assert set(listing["checklist"]) == set(REVIEW_CHECKLIST)

    # Changes requested: recorded, and publishing is still refused.
    asked = _review(client, draft["id"], decision="changes_requested",
                    checklist={**EVERY_POINT, "no_cues": False}, notes="Item 3's key is the longest option.")
    assert asked.status_code == 201, asked.text
    assert client.post(publish, headers=ADMIN).json()["error"] == "review_required"

    approved = _review(client, draft["id"], decision="approved", checklist=EVERY_POINT, notes="Keys run in Python.")
    assert approved.status_code == 201
    entry = approved.json()
    assert entry["reviewer"] and entry["reviewed_at"] and entry["checklist"] == EVERY_POINT

    # An edit after the approval makes it stale: the edited items need their own review.
    item = draft["items"][0]
    edited = client.patch(f"/v1/assessments/{draft['id']}/items/{item['id']}", headers=ADMIN,
                          json={"explanation": "Reworded after review."})
    assert edited.status_code == 200, edited.text
    assert client.post(publish, headers=ADMIN).json()["error"] == "review_required"
    assert client.get(f"/v1/assessments/{draft['id']}/reviews", headers=ADMIN).json()["current_approval"] is None

    assert _review(client, draft["id"], decision="approved", checklist=EVERY_POINT).status_code == 201
    published = client.post(publish, headers=ADMIN)
    assert published.status_code == 200 and published.json()["status"] == "published"
    history = client.get(f"/v1/assessments/{draft['id']}/reviews", headers=ADMIN).json()
    assert [review["decision"] for review in history["reviews"]] == ["changes_requested", "approved", "approved"]
    assert history["current_approval"]["id"] == history["reviews"][-1]["id"]
    # A published assessment is not reviewed again.
    late = _review(client, draft["id"], decision="approved", checklist=EVERY_POINT)
    assert late.status_code == 409 and late.json()["error"] == "assessment_frozen"


@pytest.mark.parametrize("body, code", [
    ({"decision": "approved", "checklist": {**EVERY_POINT, "keys_verified": False}}, "checklist_incomplete"),
    ({"decision": "approved", "checklist": {"keys_verified": True}}, "checklist_incomplete"),
    ({"decision": "approved", "checklist": {**EVERY_POINT, "looks_fine": True}}, "validation_error"),
    ({"decision": "maybe", "checklist": EVERY_POINT}, "validation_error"),
    ({"checklist": EVERY_POINT}, "validation_error"),
])
def test_an_approval_confirms_every_checklist_point(client: TestClient, body: dict[str, Any], code: str) -> None:
    draft = _llm_draft(client)
    refused = _review(client, draft["id"], **body)
    assert refused.status_code == 422 and refused.json()["error"] == code
    assert client.get(f"/v1/assessments/{draft['id']}/reviews", headers=ADMIN).json()["reviews"] == []


def test_bank_drafts_need_no_review_and_learners_cannot_review(client: TestClient) -> None:
    draft = new_assessment(client, publish=False, item_count=4)
    assert client.get(f"/v1/assessments/{draft['id']}/reviews", headers=ADMIN).json()["review_required"] is False
    assert client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN).status_code == 200
    learner = client.post("/v1/learners", headers=ADMIN, json={"name": "L"}).json()
    denied = client.post(f"/v1/assessments/{draft['id']}/reviews", headers=bearer(learner["api_key"]),
                         json={"decision": "approved", "checklist": EVERY_POINT})
    assert denied.status_code == 403


@pytest.fixture(params=["sqlite", "postgresql"])
def own_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Calibration reads every first attempt of a skill and level: this test needs a database of its own."""
    with migrated_database(request, tmp_path) as url:
        yield url


def test_reviewed_llm_items_ride_along_unscored_in_bank_drafts(settings: Settings, own_database: str) -> None:
    """New LLM items earn a history as pretest items in bank drafts: shown, never scored, their answers counted."""
    model = FakeModel()
    script_every_type(model)
    types = ("single_choice",)
    with FakeLlmServer(handler=model) as llm:
        configured = settings.model_copy(update={
            "llm_base_url": llm.base_url, "llm_model": "fake-model", "database_url": own_database,
            "pretest_responses": 1,  # one first-attempt response establishes a bank item here
        })
        with TestClient(create_app(configured), base_url=PUBLIC_URL) as client:
            # Every single-choice bank item of python foundation gets a first-attempt response, then a calibration
            # run records them: they are established, so new items can ride along.
            capacity = BankGenerator().capacity("python", "foundation", 3, types)
            everything = new_assessment(client, skill="python", item_count=capacity, item_types=list(types), seed=3)
            learner = new_learner(client)
            attempt = start(client, everything, learner)
            client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                        json={"responses": correct_responses(keyed(client, attempt))})
            assert client.post("/v1/item-bank/calibrate", headers=ADMIN,
                               json={"skill": "python", "level": "foundation"}).status_code == 200

            draft = _llm_draft(client)  # one item of each type, the single-choice one among them
            llm_choice = next(item for item in draft["items"] if item["type"] == "single_choice")
            assert _review(client, draft["id"], decision="approved", checklist=EVERY_POINT).status_code == 201
            assert client.post(f"/v1/assessments/{draft['id']}/publish", headers=ADMIN).status_code == 200

            mixed = new_assessment(client, skill="python", item_count=5, item_types=list(types), seed=4)
            by_id = {item["id"]: item for item in mixed["items"]}
            assert by_id[llm_choice["id"]]["pretest"] is True  # the LLM item, unscored
            assert sum(1 for item in mixed["items"] if not item.get("pretest")) == 5
            assert all(not item["id"].startswith("python-llm-") for item in mixed["items"] if not item.get("pretest"))

            learner = new_learner(client)
            attempt = start(client, mixed, learner)
            view = keyed(client, attempt)
            responses = [
                {"item_id": item["id"],
                 "answer": wrong_answer(item) if item["bank_item_id"] == llm_choice["id"] else item["answer"]}
                for item in view["items"]
            ]
            assert len(responses) == 6  # the learner sees six items and cannot tell which one is unscored
            grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner["headers"],
                                json={"responses": responses}).json()
            assert grade["percent"] == 100.0 and grade["max_score"] == 5
            stats = client.get("/v1/item-bank/statistics", headers=ADMIN,
                               params={"skill": "python", "level": "foundation", "item_id": llm_choice["id"]})
            assert stats.status_code == 200 and stats.json()[0]["responses"] == 1  # its answer still counts
