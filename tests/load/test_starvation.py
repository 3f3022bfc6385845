"""No request can starve the server: bursts of writes are answered, /health stays fast, SIGTERM ends it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.load.conftest import HealthProbe, Server, async_client, backend_of, percentile, report
from tests.load.flows import Outcomes, timed

# Loads the machine and times what it serves: `make pytest` runs it in the serial pass, alone.
pytestmark = pytest.mark.serial
BURST_DEADLINE = 60.0


def test_a_burst_of_bad_key_writes_is_answered_and_health_stays_fast(server: Server) -> None:
    """41 writes at once used to hang the SQLite server for good; 300 with an unknown key get their 401s."""
    count = 300

    async def run() -> tuple[Outcomes, HealthProbe, float]:
        outcomes = Outcomes()
        async with async_client(server.url, timeout=BURST_DEADLINE) as client, HealthProbe(server.url) as health:
            began = time.perf_counter()
            await asyncio.gather(*(
                timed(outcomes, client.post("/v1/learners", json={"name": "x"},
                                            headers={"Authorization": "Bearer sk_not_a_key"}))
                for _ in range(count)
            ))
            elapsed = time.perf_counter() - began
        return outcomes, health, elapsed

    outcomes, health, elapsed = asyncio.run(run())
    report(
        f"bad-key burst [{backend_of(server.database_url)}]", requests=count, seconds=elapsed,
        statuses=dict(outcomes.statuses), failures=dict(outcomes.failures),
        p99_ms=percentile(outcomes.latencies, 0.99) * 1000, health_worst_ms=health.worst * 1000,
    )
    assert not outcomes.failures, outcomes.failures
    assert outcomes.statuses[401] + outcomes.statuses[503] == count, outcomes.statuses
    assert not health.failures and health.worst < 1.0, (health.failures, health.worst)


def test_sigterm_during_a_burst_finishes_and_exits_within_10_s(server: Server) -> None:
    """SIGTERM while writes are in flight: those get answers, the process exits within 10 s."""
    count = 200

    async def run() -> tuple[Outcomes, float]:
        outcomes = Outcomes()
        async with async_client(server.url, timeout=BURST_DEADLINE) as client:
            tasks = [
                asyncio.create_task(timed(outcomes, client.post(
                    "/v1/learners", json={"name": "x"}, headers={"Authorization": "Bearer sk_not_a_key"}
                )))
                for _ in range(count)
            ]
            for answered, finished in enumerate(asyncio.as_completed(tasks), start=1):
                await finished
                if answered == 20:
                    break  # the burst is being served: now SIGTERM
            exit_seconds = await asyncio.to_thread(server.stop, 20)
            await asyncio.gather(*tasks)
        return outcomes, exit_seconds

    outcomes, exit_seconds = asyncio.run(run())
    report(
        f"SIGTERM under load [{backend_of(server.database_url)}]", exit_seconds=exit_seconds,
        statuses=dict(outcomes.statuses), refused_or_dropped=dict(outcomes.failures),
    )
    assert exit_seconds < 10.0
    assert outcomes.server_errors == 0, outcomes.statuses
    assert outcomes.statuses[401] >= 20


def test_a_request_that_cannot_get_a_session_in_time_gets_503_busy(database_url: str, tmp_path: Path) -> None:
    """With one session and a 0.05 s queue, a burst is partly refused: 503 busy + Retry-After, never 500."""
    # The queue is short enough that a burst of 300 outlasts it however fast a refused key is answered
    # (at 0.2 s, a server that answers a bad key in ~0.6 ms drained the whole burst in time).
    env = {"SKILLPROOF_DB_SESSIONS": "1", "SKILLPROOF_DB_QUEUE_SECONDS": "0.05"}
    server = Server(tmp_path, database_url, env).start()
    count = 300

    async def run() -> Outcomes:
        outcomes = Outcomes()
        async with async_client(server.url, timeout=BURST_DEADLINE) as client:
            await asyncio.gather(*(
                timed(outcomes, client.post("/v1/learners", json={"name": "x"},
                                            headers={"Authorization": "Bearer sk_not_a_key"}))
                for _ in range(count)
            ))
            busy = await client.post("/v1/learners", json={"name": "x"})
            assert busy.status_code in (401, 503)
        return outcomes

    try:
        outcomes = asyncio.run(run())
    finally:
        exit_seconds = server.stop()
    report(
        f"503 busy when no session in 0.05 s [{backend_of(database_url)}]", statuses=dict(outcomes.statuses),
        failures=dict(outcomes.failures), p99_ms=percentile(outcomes.latencies, 0.99) * 1000,
    )
    assert not outcomes.failures and outcomes.server_errors == 0
    assert outcomes.statuses[503] > 0 and outcomes.statuses[401] + outcomes.statuses[503] == count
    assert outcomes.retry_after_missing == 0
    assert exit_seconds < 10.0
