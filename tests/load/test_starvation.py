"""No request can starve the server: bursts of writes are answered, /health stays fast, SIGTERM ends it."""

from __future__ import annotations

import asyncio
import time

from tests.load.conftest import HealthProbe, Server, async_client, backend_of, percentile, report
from tests.load.flows import Outcomes, timed

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
            burst = asyncio.gather(*(
                timed(outcomes, client.post("/v1/learners", json={"name": "x"},
                                            headers={"Authorization": "Bearer sk_not_a_key"}))
                for _ in range(count)
            ))
            await asyncio.sleep(0.3)
            exit_seconds = await asyncio.to_thread(server.stop, 20)
            await burst
        return outcomes, exit_seconds

    outcomes, exit_seconds = asyncio.run(run())
    report(
        f"SIGTERM under load [{backend_of(server.database_url)}]", exit_seconds=exit_seconds,
        statuses=dict(outcomes.statuses), refused_or_dropped=dict(outcomes.failures),
    )
    assert exit_seconds < 10.0
    assert outcomes.server_errors == 0, outcomes.statuses
