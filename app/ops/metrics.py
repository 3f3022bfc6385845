"""Prometheus metrics (prometheus-client): per-process counters, plus database figures read at scrape time.

Per process: `skillproof serve` runs one process; scrape each replica. For several worker processes of one
server, set PROMETHEUS_MULTIPROC_DIR (an empty directory, before start) and /metrics aggregates the workers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import Engine, text

logger = logging.getLogger("skillproof.metrics")

REQUESTS = Counter(
    "skillproof_http_requests", "HTTP requests by route template and status.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "skillproof_http_request_duration_seconds", "Time from request start to response end.", ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
IN_FLIGHT = Gauge(
    "skillproof_http_requests_in_flight", "Requests being served.", multiprocess_mode="livesum"
)
VERIFICATIONS = Counter(
    "skillproof_verifications", "Credential verifications by outcome (verified, or the first error code).",
    ["outcome"],
)
RATE_LIMITED = Counter("skillproof_rate_limited", "Requests refused with 429, by limit group.", ["group"])


_verification_children: dict[str, Any] = {}


def verification_outcome(verified: bool, errors: Sequence[Any]) -> str:
    """The `outcome` label of a verdict: verified, else its first error's code (`errors` hold `.code`)."""
    return "verified" if verified else (errors[0].code if errors else "failed")


def _verifications(outcome: str) -> Any:
    child = _verification_children.get(outcome)
    if child is None:  # outcomes are the verifier's error codes: a few dozen at most
        child = _verification_children[outcome] = VERIFICATIONS.labels(outcome)
    return child


def record_verification(outcome: str) -> None:
    """Count one verification verdict (its verification_outcome)."""
    _verifications(outcome).inc()


def record_verifications(outcomes: Mapping[str, int]) -> None:
    """Count verdicts by outcome (a batch's, at once)."""
    for outcome, count in outcomes.items():
        _verifications(outcome).inc(count)


class DatabaseCollector(Collector):
    """Figures the database holds (shared by every replica: aggregate them with max, not sum)."""

    def __init__(self, engine: Engine, pool: Any):
        self.engine = engine
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        if self.pool is not None and hasattr(self.pool, "checkedout"):
            in_use = GaugeMetricFamily("skillproof_db_pool_connections_in_use", "Pooled connections checked out.")
            in_use.add_metric([], self.pool.checkedout())
            yield in_use
        try:
            with self.engine.connect() as connection:
                issued = connection.execute(text("SELECT count(*) FROM credentials")).scalar_one()
                # A message entry's value: bit 2 revoked, bit 1 suspended (app.status_lists.messages).
                status_rows = connection.execute(text(
                    "SELECT purpose, value, count(*) FROM status_entries WHERE value <> 0 GROUP BY purpose, value"
                )).all()
                job_rows = connection.execute(
                    text("SELECT status, count(*) FROM generation_jobs GROUP BY status")
                ).all()
        except Exception as exc:  # a metrics scrape must never fail because one figure is missing
            logger.warning("database figures unavailable for /metrics: %s", type(exc).__name__)
            return
        yield CounterMetricFamily("skillproof_credentials_issued", "Credentials issued.", value=issued)
        by_purpose = {"revocation": 0, "suspension": 0}
        for purpose, value, count in status_rows:
            if purpose == "message":
                by_purpose["revocation"] += int(count) if int(value) & 2 else 0
                by_purpose["suspension"] += int(count) if int(value) & 1 else 0
            elif purpose in by_purpose:
                by_purpose[str(purpose)] += int(count)
        yield CounterMetricFamily(
            "skillproof_credentials_revoked", "Credentials revoked.", value=by_purpose.get("revocation", 0)
        )
        suspended = GaugeMetricFamily("skillproof_credentials_suspended", "Credentials suspended now.")
        suspended.add_metric([], by_purpose.get("suspension", 0))
        yield suspended
        jobs = GaugeMetricFamily("skillproof_generation_jobs", "Generation jobs by status.", labels=["status"])
        by_status = {str(status): int(count) for status, count in job_rows}
        for status in ("queued", "running", "succeeded", "failed"):
            jobs.add_metric([status], by_status.get(status, 0))
        yield jobs


def render(engine: Engine, pool: Any) -> bytes:
    """The Prometheus text exposition of this process (or of all workers in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_registry = CollectorRegistry()
        MultiProcessCollector(process_registry)  # type: ignore[no-untyped-call]
    else:
        process_registry = REGISTRY
    database_registry = CollectorRegistry(auto_describe=False)
    database_registry.register(DatabaseCollector(engine, pool))
    return generate_latest(process_registry) + generate_latest(database_registry)
