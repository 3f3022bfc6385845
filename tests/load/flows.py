"""What the load tests do through the public API, as async steps."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.load.conftest import admin_headers


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Outcomes:
    """Status codes, transport failures and latencies of a burst."""

    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    retry_after_missing: int = 0

    def record(self, response: httpx.Response | BaseException, began: float) -> None:
        self.latencies.append(time.perf_counter() - began)
        if isinstance(response, BaseException):
            self.failures[type(response).__name__] += 1
            return
        self.statuses[response.status_code] += 1
        if response.status_code == 503 and "retry-after" not in response.headers:
            self.retry_after_missing += 1
        if response.status_code >= 400:
            assert response.headers.get("content-type", "").startswith("application/json"), response.text[:200]
            body = response.json()
            assert set(body) == {"error", "detail"}, body

    @property
    def server_errors(self) -> int:
        """5xx other than 503 busy."""
        return sum(count for status, count in self.statuses.items() if status >= 500 and status != 503)


async def timed(outcomes: Outcomes, request: Awaitable[httpx.Response]) -> httpx.Response | None:
    began = time.perf_counter()
    try:
        response = await request
    except httpx.HTTPError as exc:
        outcomes.record(exc, began)
        return None
    outcomes.record(response, began)
    return response


async def new_assessment(client: httpx.AsyncClient, item_count: int = 6) -> dict[str, Any]:
    draft = await client.post(
        "/v1/assessments", json={"skill": "python", "level": "foundation", "item_count": item_count},
        headers=admin_headers(),
    )
    assert draft.status_code == 201, draft.text
    published = await client.post(f"/v1/assessments/{draft.json()['id']}/publish", headers=admin_headers())
    assert published.status_code == 200, published.text
    assessment: dict[str, Any] = published.json()
    return assessment


async def new_learners(client: httpx.AsyncClient, count: int, batch: int = 50) -> list[dict[str, str]]:
    """`count` learners' auth headers, created `batch` at a time."""
    headers: list[dict[str, str]] = []
    for start in range(0, count, batch):
        responses = await asyncio.gather(*(
            client.post("/v1/learners", json={"name": f"Learner {n}"}, headers=admin_headers())
            for n in range(start, min(count, start + batch))
        ))
        for response in responses:
            assert response.status_code == 201, response.text
            headers.append(bearer(response.json()["api_key"]))
    return headers


def correct_responses(assessment: dict[str, Any], attempt: dict[str, Any]) -> list[dict[str, Any]]:
    """Right answers, matched by item id, or by prompt where attempts show opaque ids."""
    by_id = {item["id"]: item["answer"] for item in assessment["items"]}
    by_prompt = {item["prompt"]: item["answer"] for item in assessment["items"]}
    return [
        {"item_id": item["id"], "answer": by_id[item["id"]] if item["id"] in by_id else by_prompt[item["prompt"]]}
        for item in attempt["items"]
    ]


async def start_attempt(
    client: httpx.AsyncClient, assessment: dict[str, Any], learner: dict[str, str]
) -> dict[str, Any]:
    response = await client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner)
    assert response.status_code == 201, response.text
    attempt: dict[str, Any] = response.json()
    return attempt


async def start_attempts(
    client: httpx.AsyncClient, assessment: dict[str, Any], learners: list[dict[str, str]], batch: int = 50
) -> list[dict[str, Any]]:
    attempts: list[dict[str, Any]] = []
    for start in range(0, len(learners), batch):
        attempts += await asyncio.gather(*(
            start_attempt(client, assessment, learner) for learner in learners[start:start + batch]
        ))
    return attempts


def submit(
    client: httpx.AsyncClient, attempt: dict[str, Any], learner: dict[str, str], responses: list[dict[str, Any]],
    key: str | None = None,
) -> Awaitable[httpx.Response]:
    headers = {**learner, **({"Idempotency-Key": key} if key else {})}
    return client.post(f"/v1/attempts/{attempt['id']}/submit", json={"responses": responses}, headers=headers)


async def spread(calls: list[Callable[[], Awaitable[Any]]], seconds: float) -> list[Any]:
    """Start the calls evenly over `seconds` (a class arriving, not one packet) and wait for them all."""
    async def later(index: int, call: Callable[[], Awaitable[Any]]) -> Any:
        await asyncio.sleep(seconds * index / max(1, len(calls)))
        return await call()

    return await asyncio.gather(*(later(index, call) for index, call in enumerate(calls)))
