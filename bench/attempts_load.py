"""Whole attempts per second and submit p99 at 64 concurrent learners, on SQLite and PostgreSQL, with 1 and 2
uvicorn workers, beside GET /health measured on the same server in the same run; wrk shows the client's ceiling.

Server and client are pinned to different cores with taskset (BENCH_SERVER_CPUS, default "1";
BENCH_CLIENT_CPUS, default "0"); PostgreSQL itself is not pinned. wrk (Debian: `apt-get install -y wrk`) is
optional: without it the /health ceiling row is left out.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from bench.common import (
    PYTHON,
    ROOT,
    SKILLPROOF,
    Api,
    BenchResult,
    LoadResult,
    Server,
    Table,
    Target,
    check_errors,
    free_port,
    issuance_scenario,
    main_of,
    postgres_available,
    postgres_database,
    ratio,
    request_scenario,
    run_load,
    skillproof_env,
    sqlite_url,
    workdir,
)

CONCURRENCY = 64  # learners finishing attempts at once, no pause between attempts: the worst case of 64
LEARNERS = 256  # taking turns, a few attempts each
ITEM_COUNT = 10
TARGET_P99_MS = 250.0
THINK_SECONDS = 1.0  # the paced run: each learner takes this long to answer (real ones take minutes)
SERVER_CPUS = os.environ.get("BENCH_SERVER_CPUS", "1")
CLIENT_CPUS = os.environ.get("BENCH_CLIENT_CPUS", "0")


def _pin(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if shutil.which("taskset") and cpus else []


class PinnedServer(Server):
    """A uvicorn server whose CPU time counts its worker processes too."""

    def cpu_seconds(self) -> float:
        total = 0.0
        root = psutil.Process(self.pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total


@contextlib.contextmanager
def uvicorn_server(database_url: str, directory: Path, workers: int) -> Iterator[Server]:
    """The app under `uvicorn --workers N --no-access-log`, pinned to SERVER_CPUS, after `skillproof migrate`."""
    env = {**skillproof_env(database_url, directory), "SKILLPROOF_RATE_LIMITS": "off"}
    subprocess.run([SKILLPROOF, "migrate"], cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True,
                   timeout=120)
    subprocess.run([SKILLPROOF, "keys", "list"], cwd=ROOT, env={**os.environ, **env}, check=True,
                   capture_output=True, timeout=60)  # creates the keys once, before workers race to
    # Each worker's start registers SKILLPROOF_ADMIN_API_KEY; two doing it at once on PostgreSQL collide on
    # the unique key hash and one fails to start. Registering it first makes theirs a no-op.
    register_admin_key(database_url, env["SKILLPROOF_ADMIN_API_KEY"])
    port = free_port()
    argv = [*_pin(SERVER_CPUS), PYTHON, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning",
            "--timeout-graceful-shutdown", "7", "--timeout-worker-healthcheck", "30"]
    server = PinnedServer(f"{workers} worker(s)", argv, port, directory / f"server-{port}.log", env)
    with server:
        server.start()
        # Every worker has to be up before the measured window: ask until each pid answered (best effort).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(server_children(server)) < (workers if workers > 1 else 0):
            time.sleep(0.1)
        yield server


def register_admin_key(database_url: str, admin_key: str) -> None:
    import datetime as dt

    from app.auth import service as auth_service
    from app.db import Database

    database = Database(database_url)
    try:
        with database.sessions.begin() as session:
            auth_service.ensure_admin_key(session, admin_key, dt.datetime.now(dt.UTC))
    finally:
        database.dispose()


def server_children(server: Server) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [p for p in psutil.Process(server.pid).children() if "python" in p.name().lower()]
    return []


def wrk_health(server: Server, seconds: int = 5) -> float | None:
    """GET /health req/s with wrk (64 connections, 2 threads) pinned to the client cores; None without wrk."""
    if not shutil.which("wrk"):
        return None
    result = subprocess.run(
        [*_pin(CLIENT_CPUS), "wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds}s", f"{server.url}/health"],
        capture_output=True, text=True, timeout=seconds + 30, check=False,
    )
    found = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    return float(found.group(1)) if found else None


@contextlib.contextmanager
def database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield sqlite_url(directory)
    else:
        with postgres_database() as url:
            yield url


def checked(server: Server, result: LoadResult, what: str) -> None:
    """check_errors, with the server's log when something failed."""
    try:
        check_errors(result, what)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n{server.name} log:\n{server.log_tail(60)}") from None


def run(quick: bool = False, only: str | None = None) -> BenchResult:
    warmup, duration = (1.0, 4.0) if quick else (2.0, 10.0)
    rows: list[list[str]] = []
    notes: list[str] = []
    targets: list[Target] = []
    headline: list[list[str]] = []
    backends = ["sqlite", "postgresql"]
    unavailable = postgres_available()
    if unavailable:
        backends.remove("postgresql")
        notes.append(f"PostgreSQL skipped: {unavailable}")
    client = _pin(CLIENT_CPUS)
    for backend in backends:
        for workers in (1, 2):
            if only and only != f"{backend}-{workers}":
                continue
            with (
                workdir() as directory,
                database(backend, directory) as url,
                uvicorn_server(url, directory, workers) as server,
                Api(server) as api,
            ):
                scenario = issuance_scenario(api, LEARNERS, item_count=ITEM_COUNT)
                attempts = run_load(server, scenario, concurrency=CONCURRENCY, warmup=warmup, duration=duration,
                                    engine="raw", client_prefix=client)
                checked(server, attempts, f"attempts on {backend}, {workers} worker(s)")
                paced = run_load(server, {**scenario, "think_seconds": THINK_SECONDS}, concurrency=CONCURRENCY,
                                 warmup=warmup, duration=duration, engine="raw", client_prefix=client)
                checked(server, paced, f"paced attempts on {backend}, {workers} worker(s)")
                spread = run_load(
                    server, {**scenario, "think_seconds": THINK_SECONDS, "think_distribution": "exponential"},
                    concurrency=CONCURRENCY, warmup=warmup, duration=duration, engine="raw", client_prefix=client,
                )
                checked(server, spread, f"randomly paced attempts on {backend}, {workers} worker(s)")
                health = run_load(server, request_scenario("GET", "/health", expect_substring='"ok"'),
                                  concurrency=CONCURRENCY, warmup=1.0, duration=duration / 2, engine="raw",
                                  client_prefix=client)
                checked(server, health, f"/health on {backend}, {workers} worker(s)")
                ceiling = wrk_health(server)
            label = f"{backend}, {workers} worker{'s' if workers > 1 else ''}"
            for mode, result in (
                ("no pause", attempts), (f"{THINK_SECONDS:g} s to answer", paced),
                (f"{THINK_SECONDS:g} s mean, random", spread),
            ):
                submit = result.phases.get("submit", {})
                submit_p99 = submit.get("p99_ms", float("nan"))
                rows.append([
                    label, mode, f"{result.rate:.1f}", f"{submit.get('p50_ms', float('nan')):.0f}",
                    f"{submit_p99:.0f}", f"{health.rate:,.0f}", ratio(result.rate, health.rate),
                    f"{ceiling:,.0f}" if ceiling else "n/a", f"{result.server_ms_per_op:.1f}",
                    f"{result.server_cpu_pct:.0f}%", f"{result.client_cpu_pct:.0f}%",
                ])
                targets.append(Target(
                    f"submit p99 < {TARGET_P99_MS:.0f} ms at {CONCURRENCY} concurrent learners ({label}, {mode})",
                    submit_p99 < TARGET_P99_MS, f"{submit_p99:.0f} ms",
                ))
                headline.append([f"whole attempts at {CONCURRENCY} learners, {label}, {mode}",
                                 f"{result.rate:.1f} /s, submit p99 {submit_p99:.0f} ms",
                                 f"{health.rate:,.0f} /s GET /health", ratio(result.rate, health.rate)])
    notes.append(
        f"Closed loop: {CONCURRENCY} learners each start an attempt and submit it all-correct (a credential is "
        "issued) with no pause, so the queue is always full: by Little's law the mean time of a request is "
        f"{CONCURRENCY} ÷ (2 × attempts/s). Submit latency is measured from its request to its answer."
    )
    notes.append(
        f"'{THINK_SECONDS:g} s to answer': every learner answers in exactly {THINK_SECONDS:g} s, so learners stay "
        f"in step and submits arrive in waves; '{THINK_SECONDS:g} s mean, random': answering times are "
        "exponential with that mean (seeded; capped at 4 s, under uvicorn's 5 s keep-alive), as independent "
        "learners would be."
    )
    notes.append(
        f"Server pinned to CPU {SERVER_CPUS}, load generator (the raw asyncio client of bench.loadgen) and wrk to "
        f"CPU {CLIENT_CPUS}; PostgreSQL unpinned. 'wrk /health' is the same server's /health under wrk: where it "
        "is above the raw client's /health, the client (not the server) set that baseline."
    )
    return BenchResult(
        key="attempts_load",
        title=f"5. Whole attempts at {CONCURRENCY} concurrent learners, 1 and 2 workers",
        tables=[Table(
            ["server", "learners", "attempts/s", "submit p50 ms", "submit p99 ms", "GET /health /s",
             "ratio", "wrk /health /s", "server CPU ms/attempt", "server CPU", "client CPU"],
            rows,
            f"raw client, {CONCURRENCY} connections, {LEARNERS} learners taking turns, {warmup:g} s warm-up then "
            f"{duration:g} s measured ({duration / 2:g} s for /health); python/foundation, {ITEM_COUNT} items; "
            "uvicorn app.main:create_app --factory --no-access-log",
        )],
        targets=targets,
        notes=notes,
        headline=headline,
    )


def main() -> None:
    main_of(run, __doc__)


if __name__ == "__main__":
    main()
