"""kill -9 of the server at several points of issuance, restart, retry with the same keys: exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from app.assessments.models import Grade
from app.credentials.models import Credential
from app.status_lists.models import StatusEntry
from tests.load.conftest import Server, async_client, backend_of, report
from tests.load.flows import correct_responses, new_assessment, new_learners, start_attempts, submit

PER_ROUND = 40
# Kill after this many of the round's submits have been answered: 0 is "as soon as they are sent".
KILL_AFTER_ANSWERS = (0, 5, 20)
RETRIES = 20


def test_kill_9_during_issuance_then_retry_issues_exactly_once(database_url: str, tmp_path: Path) -> None:
    server = Server(tmp_path, database_url).start()
    rounds: list[dict[str, Any]] = []
    try:
        for answers in KILL_AFTER_ANSWERS:
            rounds.append(asyncio.run(_round(server, answers)))
    finally:
        server.stop()
    attempt_ids = [attempt_id for figures in rounds for attempt_id in figures.pop("attempt_ids")]
    for figures in rounds:
        report(f"kill -9 during issuance [{backend_of(database_url)}]", **figures)

    engine = create_engine(database_url)
    with engine.connect() as connection:
        grades = dict(connection.execute(
            select(Grade.attempt_id, func.count()).where(Grade.attempt_id.in_(attempt_ids)).group_by(Grade.attempt_id)
        ).all())
        credentials = connection.execute(
            select(Credential.id, Credential.attempt_id, Credential.jwt).where(Credential.attempt_id.in_(attempt_ids))
        ).all()
        entries = dict(connection.execute(
            select(StatusEntry.credential_id, func.count(func.distinct(StatusEntry.purpose)))
            .group_by(StatusEntry.credential_id)
        ).all())
        orphans = connection.execute(
            select(func.count()).select_from(Credential).where(
                ~Credential.attempt_id.in_(select(Grade.attempt_id))
            )
        ).scalar_one()
    engine.dispose()
    assert set(grades) == set(attempt_ids) and set(grades.values()) == {1}, "exactly one grade per attempt"
    assert sorted(c.attempt_id for c in credentials) == sorted(attempt_ids), "exactly one credential per attempt"
    assert all(c.jwt for c in credentials), "every credential is signed"
    assert {entries.get(c.id) for c in credentials} == {1}, "one (message) status entry per credential"
    assert orphans == 0, "no credential without its grade"
    assert all(figures["retried_to_200"] == PER_ROUND for figures in rounds)
    assert all(figures["changed_credential_after_restart"] == 0 for figures in rounds)
    assert all(figures["verified"] == PER_ROUND for figures in rounds)


async def _round(server: Server, kill_after: int) -> dict[str, Any]:
    """One burst of passing submits, killed after `kill_after` answers, then every submit retried."""
    async with async_client(server.url) as client:
        learners = await new_learners(client, PER_ROUND)
        assessment = await new_assessment(client)
        attempts = await start_attempts(client, assessment, learners)
    work = [
        (attempt, learner, correct_responses(assessment, attempt), f"kill-{attempt['id']}")
        for attempt, learner in zip(attempts, learners, strict=True)
    ]
    async with async_client(server.url, timeout=30) as client:
        tasks = [asyncio.create_task(submit(client, *job)) for job in work]
        if kill_after == 0:
            await asyncio.sleep(0.05)
        else:
            for done, finished in enumerate(asyncio.as_completed(tasks), start=1):
                await asyncio.gather(finished, return_exceptions=True)
                if done >= kill_after:
                    break
        server.kill()
        first = await asyncio.gather(*tasks, return_exceptions=True)
    answered = {
        job[0]["id"]: result.json() for job, result in zip(work, first, strict=True)
        if isinstance(result, httpx.Response) and result.status_code == 200
    }
    server.port = 0
    server.start()
    retried: dict[str, dict[str, Any]] = {}
    async with async_client(server.url) as client:
        for job in work:
            for _ in range(RETRIES):
                response = await submit(client, *job)
                if response.status_code == 200:
                    retried[job[0]["id"]] = response.json()
                    break
                assert response.status_code == 503, response.text  # busy is the only acceptable refusal
                await asyncio.sleep(float(response.headers["retry-after"]))
        verdicts = await asyncio.gather(*(
            _verify(client, grade["credential_id"], learner) for (attempt, learner, _, _), grade in
            ((job, retried[job[0]["id"]]) for job in work if job[0]["id"] in retried)
        ))
    return {
        "kill_after_answers": kill_after,
        "answered_before_kill": len(answered),
        "retried_to_200": sum(1 for grade in retried.values() if grade["passed"] and grade["credential_id"]),
        "changed_credential_after_restart": sum(
            1 for attempt_id, grade in answered.items()
            if retried[attempt_id]["credential_id"] != grade["credential_id"]
        ),
        "verified": sum(verdicts),
        "attempt_ids": [job[0]["id"] for job in work],
    }


async def _verify(client: httpx.AsyncClient, credential_id: str, learner: dict[str, str]) -> bool:
    body = (await client.get(f"/v1/credentials/{credential_id}", headers=learner)).json()
    verdict = (await client.post("/v1/credentials/verify", json={"verifiableCredential": body["jwt"]})).json()
    return bool(verdict["verified"])
