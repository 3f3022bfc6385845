"""Shared pieces of the performance-task tests (sql_query, python_function): the bank's tasks, one answer's
share of an item's points, and a burst of hostile answers against a real server while verify is timed."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx

from app.assessments.generators.bank import BANK_DIR, load_bank
from app.grading import rubric
from tests.servers import fresh_server

RUBRIC = {"pass_percent": 50}


def bank_tasks(skill: str, item_type: str, level: str | None = None) -> list[dict[str, Any]]:
    """The bundled bank's tasks of one type, as a draft holds them (no `level`)."""
    return [
        {key: value for key, value in item.items() if key != "level"}
        for item in load_bank(BANK_DIR)[skill].items
        if item["type"] == item_type and (level is None or item["level"] == level)
    ]


def bank_task(skill: str, item_type: str, item_id: str) -> dict[str, Any]:
    """One of the bank's tasks by id."""
    return next(item for item in bank_tasks(skill, item_type) if item["id"] == item_id)


def share(item: dict[str, Any], answer: str) -> Fraction:
    """The share of the item's points this answer earns."""
    return rubric.grade([item], RUBRIC, [{"item_id": item["id"], "answer": answer}]).score / item["points"]


def verify_latencies(client: httpx.Client, body: dict[str, Any], seconds: float) -> list[float]:
    """Seconds each verify took, one after another for `seconds`."""
    found = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        assert client.post("/v1/credentials/verify", json=body).json()["verified"]
        found.append(time.perf_counter() - started)
        time.sleep(0.01)
    return found


def assert_a_hostile_burst_leaves_verify_fast(
    tmp_path: Path, create: dict[str, Any], hostile_answer: Callable[[dict[str, Any], int], str]
) -> None:
    """Six learners submit hostile answers (`hostile_answer(item, n)`) to an assessment made by `create` on a real
    server: each submit is graded 0 or refused busy, and verify's median latency stays within twice its idle one."""
    admin_key = "hostile-admin-key-0123456789abcdef"
    admin = {"Authorization": f"Bearer {admin_key}"}
    with fresh_server(tmp_path, admin_key) as (_public, address), \
            httpx.Client(base_url=address, timeout=60) as client:
        assessment = client.post("/v1/assessments", headers=admin, json={
            **create, "max_attempts": None, "retake_cooldown_seconds": 0,
        }).json()
        assert client.post(f"/v1/assessments/{assessment['id']}/publish", headers=admin).status_code == 200

        def attempt() -> tuple[str, dict[str, str], list[dict[str, Any]]]:
            learner = client.post("/v1/learners", headers=admin, json={"name": "H"}).json()
            headers = {"Authorization": f"Bearer {learner['api_key']}"}
            started = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=headers).json()
            keyed = client.get(f"/v1/attempts/{started['id']}", headers=admin).json()["items"]
            return started["id"], headers, keyed

        attempt_id, headers, keyed = attempt()
        passing = client.post(f"/v1/attempts/{attempt_id}/submit", headers=headers, json={
            "responses": [{"item_id": item["id"], "answer": item["answer"]} for item in keyed]}).json()
        credential = client.get(f"/v1/credentials/{passing['credential_id']}", headers=headers).json()
        body = {"verifiableCredential": credential["jwt"]}
        idle = verify_latencies(client, body, 4)

        statuses: list[int] = []
        prepared = [attempt() for _ in range(6)]  # learners and attempts made before, not during, the burst

        def submit_hostile(offset: int) -> None:
            attempt_id, headers, keyed = prepared[offset]
            with httpx.Client(base_url=address, timeout=120) as own:
                responses = [{"item_id": item["id"], "answer": hostile_answer(item, offset + index)}
                             for index, item in enumerate(keyed)]
                response = own.post(f"/v1/attempts/{attempt_id}/submit", headers=headers,
                                    json={"responses": responses})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    assert response.json()["score"] == 0

        workers = [threading.Thread(target=submit_hostile, args=(offset,)) for offset in range(6)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)  # the burst is under way
        busy = verify_latencies(client, body, 6)
        for worker in workers:
            worker.join()
        assert statuses and set(statuses) <= {200, 503}, statuses
        assert 200 in statuses
        idle_median, busy_median = statistics.median(idle), statistics.median(busy)
        print(f"verify latency: idle median {idle_median * 1000:.1f} ms p95 "
              f"{statistics.quantiles(idle, n=20)[-1] * 1000:.1f} ms; during the burst median "
              f"{busy_median * 1000:.1f} ms p95 {statistics.quantiles(busy, n=20)[-1] * 1000:.1f} ms; "
              f"submits {statuses}")
        assert busy_median <= 2 * idle_median
        assert client.get("/health").status_code == 200
