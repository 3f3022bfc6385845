"""LLM generation as a job, over HTTP, against the scripted OpenAI-compatible server."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from app.assessments import rules
from app.assessments.models import Assessment, GenerationJob
from app.config import Settings
from app.main import create_app
from tests.conftest import PUBLIC_URL
from tests.factories import ADMIN, correct_responses, keyed, new_assessment, new_learner, start
from tests.llm_server import DIALECTS, FakeLlmServer, FakeModel, Reply, script_every_type


@pytest.fixture
def model() -> FakeModel:
    return FakeModel()


@pytest.fixture
def llm(model: FakeModel) -> Iterator[FakeLlmServer]:
    with FakeLlmServer(handler=model) as server:
        yield server


def _app(settings: Settings, llm: FakeLlmServer) -> TestClient:
    configured = settings.model_copy(update={"llm_base_url": llm.base_url, "llm_model": "fake-model"})
    return TestClient(create_app(configured), base_url=PUBLIC_URL)


def _wait(client: TestClient, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=ADMIN).json()
        if job["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def _count_assessments(settings: Settings) -> int:
    engine = create_engine(settings.sqlalchemy_url)
    with engine.connect() as connection:
        count = connection.scalar(select(func.count()).select_from(Assessment))
    engine.dispose()
    return int(count or 0)


TYPES = ["single_choice", "multiple_response", "numeric", "short_text", "ordering", "matching"]


def test_llm_job_creates_a_checked_draft_with_provenance(settings: Settings, llm: FakeLlmServer,
                                                         model: FakeModel) -> None:
    script_every_type(model)
    product_policy = settings.model_copy(update={"default_max_attempts": 3, "default_retake_cooldown_seconds": 86400})
    with _app(product_policy, llm) as client:
        response = client.post("/v1/assessments", json={
            "skill": "python", "level": "foundation", "item_count": 6, "generator": "llm", "item_types": TYPES,
            "seed": 99,
        }, headers=ADMIN)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["status"] == "queued" and response.headers["location"] == f"/v1/jobs/{accepted['job_id']}"
        job = _wait(client, accepted["job_id"])
        assert job["status"] == "succeeded", job
        assert job["kept"] == 6 and job["error"] is None and job["assessment_id"]
        draft = client.get(f"/v1/assessments/{job['assessment_id']}", headers=ADMIN).json()
    assert draft["status"] == "draft" and draft["generator"] == "llm"
    assert (draft["max_attempts"], draft["retake_cooldown_seconds"]) == (3, 86400)  # the service's retake defaults
    provenance = draft["provenance"]
    assert provenance["model"] == "fake-model" and provenance["seed"] == 99
    assert provenance["prompt_version"] and provenance["temperature"] is not None
    assert sorted(item["type"] for item in draft["items"]) == sorted(TYPES)
    invalid = [item for n, item in enumerate(draft["items"]) if rules.rule_problems(item, draft["items"][:n])]
    assert invalid == []  # 0 invalid items stored


def test_dropped_items_are_reported_with_reasons(settings: Settings, llm: FakeLlmServer, model: FakeModel) -> None:
    good = model.single_choice("What does `max([3, 7, 5])` return?", ["3", "7", "5", "15"], [1])
    not_an_option = model.single_choice("What does `bool([])` return?", ["True", "False", "None"], [7])
    solver_says_other = model.single_choice(
        "Which keyword starts a function definition in Python?", ["func", "def", "lambda", "fn"], [2],
        solution="def",
    )
    model.batch("single_choice", good, solver_says_other, not_an_option)  # each on a competency still planned
    model.batch("single_choice", good)  # the later rounds bring only a repeat
    model.batch("single_choice", good)
    with _app(settings, llm) as client:
        before = _count_assessments(settings)
        response = client.post("/v1/assessments", json={
            "skill": "python", "level": "foundation", "item_count": 2, "generator": "llm",
            "item_types": ["single_choice"],
        }, headers=ADMIN)
        job = _wait(client, response.json()["job_id"])
    assert job["status"] == "failed" and job["kept"] == 1, job
    assert "Only 1 of 2" in job["error"]
    reasons = {entry["prompt"]: " ".join(entry["reasons"]) for entry in job["dropped"]}
    assert "key_not_an_option" in reasons["What does `bool([])` return?"]
    assert "solver_disagrees" in reasons["Which keyword starts a function definition in Python?"]
    assert _count_assessments(settings) == before  # never half-creates an assessment


@pytest.mark.serial  # asserts wall-clock time: run alone, in `make pytest`'s serial pass
def test_an_llm_outage_fails_the_job_clearly_and_never_slows_submit_or_verify(settings: Settings) -> None:
    slow = FakeLlmServer(handler=lambda received: Reply(status=503, body={"error": "overloaded"}, delay=0.5))
    with slow, _app(settings, slow) as client:
        learner = new_learner(client)
        assessment = new_assessment(client, item_count=3)
        response = client.post("/v1/assessments", json={
            "skill": "python", "level": "foundation", "item_count": 3, "generator": "llm",
        }, headers=ADMIN)
        job_id = response.json()["job_id"]
        attempt = start(client, assessment, learner)
        began = time.monotonic()
        grade = client.post(f"/v1/attempts/{attempt['id']}/submit",
                            json={"responses": correct_responses(keyed(client, attempt))},
                            headers=learner["headers"])
        token = client.get(f"/v1/credentials/{grade.json()['credential_id']}", headers=learner["headers"]).json()
        verdict = client.post("/v1/credentials/verify", json={"verifiableCredential": token["jwt"]}).json()
        elapsed = time.monotonic() - began
        job = _wait(client, job_id, timeout=30)
    assert grade.status_code == 200 and verdict["verified"] is True
    assert elapsed < 1.0, f"submit + verify took {elapsed:.2f} s during an LLM outage"
    assert job["status"] == "failed" and "503" in job["error"]


def test_llm_requests_need_a_configured_endpoint(admin: TestClient) -> None:
    response = admin.post("/v1/assessments", json={
        "skill": "python", "level": "foundation", "item_count": 3, "generator": "llm",
    })
    assert response.status_code == 422 and response.json()["error"] == "generator_unavailable"
    assert admin.get("/v1/jobs/no-such-job").status_code == 404


def test_a_job_interrupted_by_a_restart_runs_again(settings: Settings, llm: FakeLlmServer, model: FakeModel) -> None:
    script_every_type(model)
    engine = create_engine(settings.sqlalchemy_url)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    request = {
        "skill": "python", "level": "foundation", "item_count": 6, "generator": "llm", "item_types": TYPES,
        "seed": 5, "pass_percent": 70, "retake_cooldown_seconds": 0, "multiple_response_scoring":
        "right_minus_wrong", "ordering_scoring": "all_or_nothing",
    }
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        orphan = GenerationJob(status="running", request=request, kept=0, dropped=[], created_at=long_ago,
                               started_at=long_ago, heartbeat_at=long_ago, runs=1)
        session.add(orphan)
        session.commit()
        job_id = orphan.id
    engine.dispose()
    with _app(settings, llm) as client:  # a fresh start of the service
        job = _wait(client, job_id)
    assert job["status"] == "succeeded" and job["assessment_id"]


def test_a_job_reports_the_structured_output_form_and_the_tokens_of_every_call(settings: Settings,
                                                                               model: FakeModel) -> None:
    script_every_type(model)
    with FakeLlmServer(handler=model, dialect=DIALECTS["llama-cpp-python"]) as server, \
            _app(settings, server) as client:
        response = client.post("/v1/assessments", json={
            "skill": "python", "level": "foundation", "item_count": 6, "generator": "llm", "item_types": TYPES,
        }, headers=ADMIN)
        job = _wait(client, response.json()["job_id"])
        draft = client.get(f"/v1/assessments/{job['assessment_id']}", headers=ADMIN).json()
    assert job["status"] == "succeeded", job
    usage = job["llm"]
    assert usage["structured_output"] == draft["provenance"]["structured_output"] == "json_object"
    calls = usage["calls"]
    # One refused json_schema request, then for six items of six types: 6 item batches, 6 critic passes, 2
    # options-only guesses (the choice items; each misses at once), and 3 solver runs for each single-answer
    # item (single choice, numeric, short text) and 2 for the others. The solver's calls count in the job too.
    assert len(calls) == len(server.requests) == 1 + 6 + 6 + 2 + 15 and usage["calls_omitted"] == 0
    assert calls[0]["form"] == "json_schema" and calls[0]["outcome"] == "refused"
    assert {(call["form"], call["outcome"]) for call in calls[1:]} == {("json_object", "answered")}
    purposes = [call["purpose"] for call in calls[1:]]
    assert sum(purpose.startswith("skillproof_items_") for purpose in purposes) == 6
    assert sum(purpose.startswith("skillproof_solver_") for purpose in purposes) == 15
    assert sum(purpose.startswith("skillproof_critic_") for purpose in purposes) == 6
    assert sum(purpose.startswith("skillproof_options_only_") for purpose in purposes) == 2
    # The tokens are the server's own usage figures, per call and summed.
    sent = [len(received.body) // 4 for received in server.requests[1:]]
    assert [call["prompt_tokens"] for call in calls[1:]] == sent
    assert usage["prompt_tokens"] == sum(sent) and usage["largest_prompt_tokens"] == max(sent)
    assert usage["completion_tokens"] == sum(call["completion_tokens"] for call in calls[1:]) > 0
