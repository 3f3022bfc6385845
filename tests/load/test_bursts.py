"""Bursts users bring: a class submitting at once, 500 mixed writes, one attempt submitted 200 times."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.load.conftest import (
    HealthProbe,
    Server,
    admin_headers,
    async_client,
    backend_of,
    percentile,
    report,
)
from tests.load.flows import (
    Outcomes,
    bearer,
    correct_responses,
    new_assessment,
    new_learners,
    spread,
    start_attempt,
    start_attempts,
    submit,
    timed,
)

# Loads the machine and times what it serves: `make pytest` runs it in the serial pass, alone.
pytestmark = pytest.mark.serial
CLASS_SIZE = 500


@pytest.fixture(scope="module")
def shared_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, with default settings (the class test needs the defaults)."""
    running = Server(tmp_path_factory.mktemp("bursts"), database_url).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def cohort(shared_server: Server) -> dict[str, Any]:
    """500 learners and a published assessment."""
    async def make() -> dict[str, Any]:
        async with async_client(shared_server.url) as client:
            return {"learners": await new_learners(client, CLASS_SIZE), "assessment": await new_assessment(client)}

    return asyncio.run(make())


def test_a_class_of_500_submitting_within_one_second_is_all_graded(
    shared_server: Server, cohort: dict[str, Any]
) -> None:
    learners, assessment = cohort["learners"], cohort["assessment"]

    async def run() -> tuple[list[Any], Outcomes, HealthProbe, float]:
        async with async_client(shared_server.url) as client:
            attempts = await start_attempts(client, assessment, learners)
            outcomes = Outcomes()
            async with HealthProbe(shared_server.url) as health:
                began = time.perf_counter()
                responses = await spread([
                    lambda attempt=attempt, learner=learner: timed(  # type: ignore[misc]
                        outcomes, submit(client, attempt, learner, correct_responses(assessment, attempt), "class")
                    )
                    for attempt, learner in zip(attempts, learners, strict=True)
                ], seconds=1.0)
                elapsed = time.perf_counter() - began
        return responses, outcomes, health, elapsed

    responses, outcomes, health, elapsed = asyncio.run(run())
    graded = [r for r in responses if r is not None and r.status_code == 200 and r.json()["status"] == "graded"]
    report(
        f"class of {CLASS_SIZE} submitting in 1 s [{backend_of(shared_server.database_url)}]",
        graded=len(graded), seconds=elapsed, statuses=dict(outcomes.statuses), failures=dict(outcomes.failures),
        p50_ms=percentile(outcomes.latencies, 0.5) * 1000, p99_ms=percentile(outcomes.latencies, 0.99) * 1000,
        health_worst_ms=health.worst * 1000,
    )
    assert len(graded) == CLASS_SIZE, (outcomes.statuses, outcomes.failures)
    assert all(r.json()["credential_id"] for r in graded)
    assert not health.failures and health.worst < 1.0


def test_500_mixed_writes_no_timeouts_no_server_errors_health_fast(
    shared_server: Server, cohort: dict[str, Any]
) -> None:
    """Learner creation, attempt starts, submits and bad keys, 125 each, all at once."""
    learners = cohort["learners"]
    share = 125

    async def run() -> tuple[Outcomes, Counter[str], HealthProbe, float]:
        async with async_client(shared_server.url) as client:
            assessment = await new_assessment(client)
            to_submit = await start_attempts(client, assessment, learners[:share])
            outcomes = Outcomes()
            kinds: Counter[str] = Counter()

            async def one(kind: str, call: Any) -> None:
                response = await timed(outcomes, call)
                kinds[f"{kind} {response.status_code if response is not None else 'failed'}"] += 1

            calls = [
                one("create learner", client.post("/v1/learners", json={"name": f"New {n}"},
                                                  headers=admin_headers()))
                for n in range(share)
            ] + [
                one("start attempt", client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner))
                for learner in learners[share:2 * share]
            ] + [
                one("submit", submit(client, attempt, learner, correct_responses(assessment, attempt), "mixed"))
                for attempt, learner in zip(to_submit, learners[:share], strict=True)
            ] + [
                one("bad key", client.post(f"/v1/assessments/{assessment['id']}/attempts",
                                           headers=bearer("sk_not_a_key")))
                for _ in range(share)
            ]
            async with HealthProbe(shared_server.url) as health:
                began = time.perf_counter()
                await asyncio.gather(*calls)
                elapsed = time.perf_counter() - began
        return outcomes, kinds, health, elapsed

    outcomes, kinds, health, elapsed = asyncio.run(run())
    report(
        f"500 mixed writes [{backend_of(shared_server.database_url)}]", seconds=elapsed, outcomes=dict(kinds),
        failures=dict(outcomes.failures), p99_ms=percentile(outcomes.latencies, 0.99) * 1000,
        health_worst_ms=health.worst * 1000, health_probes=len(health.latencies),
    )
    assert not outcomes.failures, outcomes.failures
    assert outcomes.server_errors == 0 and outcomes.retry_after_missing == 0, outcomes.statuses
    assert not health.failures and health.worst < 1.0, (health.failures, health.worst)
    # Busy (503) is allowed by the contract under load; with default settings none is expected here.
    assert kinds["create learner 201"] + kinds["create learner 503"] == share
    assert kinds["bad key 401"] + kinds["bad key 503"] == share
    assert kinds["submit 200"] + kinds["submit 503"] == share
    assert kinds["start attempt 201"] + kinds["start attempt 503"] == share


def test_200_concurrent_submits_of_one_attempt_grade_it_once(shared_server: Server, cohort: dict[str, Any]) -> None:
    """Half with one shared Idempotency-Key, half with keys of their own: one grade, one credential."""
    learner = cohort["learners"][-1]

    async def run() -> tuple[list[tuple[str, Any]], Outcomes, float, dict[str, Any]]:
        async with async_client(shared_server.url) as client:
            assessment = await new_assessment(client)
            attempt = await start_attempt(client, assessment, learner)
            responses = correct_responses(assessment, attempt)
            mine = "/v1/learners/me/credentials"
            held_before = {c["id"] for c in (await client.get(mine, headers=learner)).json()}
            keys = ["shared"] * 100 + [f"own-{n}" for n in range(100)]
            outcomes = Outcomes()
            began = time.perf_counter()
            answers = await asyncio.gather(*(
                timed(outcomes, submit(client, attempt, learner, responses, key)) for key in keys
            ))
            elapsed = time.perf_counter() - began
            again = await submit(client, attempt, learner, responses, "shared")
            state = {
                "attempt": (await client.get(f"/v1/attempts/{attempt['id']}", headers=learner)).json(),
                "new_credentials": [
                    c["id"] for c in (await client.get(mine, headers=learner)).json() if c["id"] not in held_before
                ],
                "again": again,
            }
        return list(zip(keys, answers, strict=True)), outcomes, elapsed, state

    results, outcomes, elapsed, state = asyncio.run(run())
    report(
        f"200 submits of one attempt [{backend_of(shared_server.database_url)}]", seconds=elapsed,
        statuses=dict(outcomes.statuses), failures=dict(outcomes.failures),
        p99_ms=percentile(outcomes.latencies, 0.99) * 1000,
    )
    assert not outcomes.failures and outcomes.server_errors == 0
    firsts = [(key, r) for key, r in results if r is not None and r.status_code == 200]
    winner_key = firsts[0][0]
    assert {key for key, _ in firsts} == {winner_key}, "only the winning key gets the grade back"
    assert len({r.content for _, r in firsts}) == 1, "the same key and body return the first response"
    expected_200s = 100 if winner_key == "shared" else 1
    assert len(firsts) == expected_200s
    refused = [r for _, r in results if r is not None and r.status_code == 409]
    assert len(refused) == 200 - expected_200s
    assert all(r.json()["error"] == "already_submitted" for r in refused)
    grade = firsts[0][1].json()
    assert state["attempt"]["grade"]["credential_id"] == grade["credential_id"]
    assert state["new_credentials"] == [grade["credential_id"]]
    if winner_key == "shared":
        assert state["again"].status_code == 200 and state["again"].content == firsts[0][1].content

