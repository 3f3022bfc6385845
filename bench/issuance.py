"""Whole attempts per second over HTTP (start, submit all-correct, grade, sign, store the credential),
on SQLite and on PostgreSQL, vs GET /health on the same server with the same client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from bench.common import (
    LOAD_HEADERS,
    POSTGRES_SERVER_URL,
    Api,
    BenchResult,
    LoadResult,
    Table,
    Target,
    check_errors,
    issuance_scenario,
    load_cells,
    main_of,
    postgres_available,
    postgres_database,
    ratio,
    request_scenario,
    run_load,
    skillproof_server,
    sqlite_url,
    workdir,
)

CONCURRENCY = 8  # learners finishing attempts at the same moment; every attempt is two requests in a row
LEARNERS = 200  # taking turns: a few attempts each over a run
ITEM_COUNT = 10


@contextlib.contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    """A fresh database: a SQLite file in `directory`, or a new PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield sqlite_url(directory)
    else:
        with postgres_database() as url:
            yield url


def run(quick: bool = False) -> BenchResult:
    warmup, duration = (1.0, 3.0) if quick else (2.0, 8.0)
    health_warmup, health_duration = (1.0, 2.0) if quick else (1.0, 5.0)
    rows: list[list[str]] = []
    notes: list[str] = []
    targets: list[Target] = []
    figures: dict[str, tuple[LoadResult, LoadResult]] = {}
    backends = ["sqlite", "postgresql"]
    unavailable = postgres_available()
    if unavailable:
        backends.remove("postgresql")
        notes.append(f"PostgreSQL skipped: {POSTGRES_SERVER_URL} did not answer ({unavailable}); "
                     "set BENCH_POSTGRES_URL to a server URL.")
    for backend in backends:
        with (
            workdir() as directory,
            database(backend, directory) as url,
            skillproof_server(url, directory) as server,
            Api(server) as api,
        ):
            scenario = issuance_scenario(api, LEARNERS, item_count=ITEM_COUNT)
            attempts = run_load(server, scenario, concurrency=CONCURRENCY, warmup=warmup, duration=duration)
            check_errors(attempts, f"issuance on {backend}")
            health = run_load(server, request_scenario("GET", "/health", expect_substring='"ok"'),
                              concurrency=CONCURRENCY, warmup=health_warmup, duration=health_duration)
            check_errors(health, f"/health on {backend}")
        figures[backend] = (attempts, health)
        cells = load_cells(attempts)
        rows.append([backend, "whole attempt (2 requests)", cells[0], ratio(attempts.rate, health.rate), *cells[1:]])
        rows.append([backend, "GET /health (baseline)", *load_cells(health)[:1], "1.00×", *load_cells(health)[1:]])
    headline = [[f"whole attempts, {backend}", f"{attempts.rate:.1f} /s ({attempts.server_ms_per_op:.1f} ms CPU)",
                 f"{health.rate:,.0f} /s GET /health", ratio(attempts.rate, health.rate)]
                for backend, (attempts, health) in figures.items()]
    for backend, (attempts, health) in figures.items():
        notes.append(
            f"{backend}: an attempt costs the server {attempts.server_ms_per_op:.1f} ms of CPU, "
            f"{attempts.server_ms_per_op / health.server_ms_per_op:.0f}× a /health request "
            f"({health.server_ms_per_op:.2f} ms); {attempts.rate:.0f} credentials issued per second."
        )
    notes.append("No target was set for issuance; the ratio says how heavy a whole attempt is next to the "
                 "cheapest request. The load generator (httpx) shares the 2 cores with the server.")
    return BenchResult(
        key="issuance",
        title="3. Issuance: whole attempts per second over HTTP",
        tables=[Table(["database", "operation", "ops/s", "ratio", *LOAD_HEADERS], rows,
                      f"httpx client in its own process, {CONCURRENCY} connections, "
                      f"{LEARNERS} learners taking turns, "
                      f"{warmup:g} s warm-up then {duration:g} s measured ({health_duration:g} s for /health); "
                      f"python/foundation assessment of {ITEM_COUNT} items; `skillproof serve`, one worker")],
        targets=targets,
        notes=notes,
        headline=headline,
    )


def main() -> None:
    main_of(run, __doc__)


if __name__ == "__main__":
    main()
