"""What the benchmarks share: servers in subprocesses, temp databases, earning a credential, the load
generator driver, timing helpers, machine facts and result tables."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHON = sys.executable
SKILLPROOF = str(BIN / "skillproof")
# A host name (did:web forbids IPs) that stays the same whatever port a server listens on, so a credential
# issued by one server process verifies on the next one started on the same database and keys.
PUBLIC_URL = "https://skillproof.bench.test"
ISSUER_DID = "did:web:skillproof.bench.test"
ADMIN_KEY = "bench-admin-" + secrets.token_urlsafe(24)
POSTGRES_SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
MB = 1024 * 1024


# -- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerError(RuntimeError):
    """A server subprocess did not come up (the message holds the tail of its log)."""


@dataclass
class Server:
    """One server subprocess bound to 127.0.0.1:port, its log in a file; stop() on every exit path."""

    name: str
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready_path: str = "/health") -> Server:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + ready_path, timeout=1.0).status_code < 500:
                    return self
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} did not answer within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (runs the lifespan's finally)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def rss(self) -> int:
        """Resident set size of the server process in bytes."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def peak_rss(self) -> int | None:
        """VmHWM (the peak RSS) from /proc, where there is one."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A temporary directory for keys, SQLite files and server logs; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="skillproof-bench-") as name:
        yield Path(name)


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'skillproof.db'}"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this run (dropped afterwards); its SQLAlchemy URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"skillproof_bench_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(POSTGRES_SERVER_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def postgres_available() -> str | None:
    """None if the PostgreSQL server answers, else why not."""
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_SERVER_URL, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    finally:
        engine.dispose()
    return None


def skillproof_env(database_url: str, directory: Path) -> dict[str, str]:
    return {
        "SKILLPROOF_DATABASE_URL": database_url,
        "SKILLPROOF_KEYS_DIR": str(directory / "keys"),
        "SKILLPROOF_ADMIN_API_KEY": ADMIN_KEY,
        "SKILLPROOF_PUBLIC_URL": PUBLIC_URL,
        # Benchmarks measure the service, not its guards: no per-client limits, and learners may retake at once.
        "SKILLPROOF_RATE_LIMITS": "off",
        "SKILLPROOF_PRECISION_GATE": "off",  # the benchmarks' 10-item assessments measure speed, not precision
        "SKILLPROOF_DEFAULT_MAX_ATTEMPTS": "0",
        "SKILLPROOF_DEFAULT_RETAKE_COOLDOWN_SECONDS": "0",
    }


@contextlib.contextmanager
def skillproof_server(database_url: str, directory: Path, *, access_log: bool = True) -> Iterator[Server]:
    """The real service: `skillproof serve --port P` (it migrates itself; uvicorn logs every request).

    With access_log=False the same app is served by `uvicorn app.main:create_app --factory --no-access-log`
    after `skillproof migrate`, to measure what the access log costs (`serve` has no switch for it).
    """
    port = free_port()
    env = skillproof_env(database_url, directory)
    if access_log:
        argv = [SKILLPROOF, "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:
        subprocess.run(
            [SKILLPROOF, "migrate"], cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True,
            timeout=START_TIMEOUT,
        )
        argv = [PYTHON, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"]
    name = "skillproof serve" if access_log else "skillproof app, uvicorn --no-access-log"
    server = Server(name, argv, port, directory / f"server-{port}.log", env)
    with server:
        server.start()
        yield server


@contextlib.contextmanager
def bare_server(directory: Path) -> Iterator[Server]:
    """The baseline: bench.bare_app (one `async def` POST route) under uvicorn, one worker, no access log."""
    port = free_port()
    argv = [PYTHON, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--no-access-log", "--log-level", "warning"]
    server = Server("bare FastAPI", argv, port, directory / f"bare-{port}.log")
    with server:
        server.start(ready_path="/")
        yield server


# -- the API, as a client uses it ------------------------------------------------------------------


class Api:
    """A synchronous client of a running Skillproof server, for setting a benchmark up."""

    def __init__(self, server: Server):
        self.server = server
        self.client = httpx.Client(base_url=server.url, timeout=30.0)
        self.admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        if response.status_code != expect:
            log = f"\n{self.server.name} log:\n{self.server.log_tail()}" if response.status_code >= 500 else ""
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:300]}{log}")
        return response.json()

    def new_learner(self, name: str = "Bench Learner") -> dict[str, str]:
        """A learner; returns the Authorization header of its key."""
        learner = self._call("POST", "/v1/learners", 201, json={"name": name}, headers=self.admin)
        return {"Authorization": f"Bearer {learner['api_key']}"}

    def new_assessment(self, skill: str = "python", level: str = "foundation", item_count: int = 10) -> dict[str, Any]:
        """A published assessment, admin view (answer keys included)."""
        body = {"skill": skill, "level": level, "item_count": item_count}
        draft = self._call("POST", "/v1/assessments", 201, json=body, headers=self.admin)
        published: dict[str, Any] = self._call(
            "POST", f"/v1/assessments/{draft['id']}/publish", 200, headers=self.admin
        )
        return published

    @staticmethod
    def correct_responses(assessment: dict[str, Any]) -> list[dict[str, Any]]:
        """Right answers keyed by prompt: attempts show items under opaque ids of their own."""
        return [{"prompt": item["prompt"], "answer": item["answer"]} for item in assessment["items"]]

    def earn_credential(self) -> dict[str, Any]:
        """Learner, published assessment, attempt, all-correct submit; the credential as GET returns it."""
        learner = self.new_learner()
        assessment = self.new_assessment()
        attempt = self._call("POST", f"/v1/assessments/{assessment['id']}/attempts", 201, headers=learner)
        answers = {response["prompt"]: response["answer"] for response in self.correct_responses(assessment)}
        grade = self._call(
            "POST", f"/v1/attempts/{attempt['id']}/submit", 200,
            json={"responses": [
                {"item_id": item["id"], "answer": answers[item["prompt"]]} for item in attempt["items"]
            ]},
            headers=learner,
        )
        if not grade.get("credential_id"):
            raise RuntimeError(f"an all-correct submit earned no credential: {grade}")
        credential: dict[str, Any] = self._call(
            "GET", f"/v1/credentials/{grade['credential_id']}", 200, headers=learner
        )
        return credential

    def verify(self, jws: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/credentials/verify", 200, json={"verifiableCredential": jws}
        )
        return result


def request_scenario(
    method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None, expect: int = 200,
    expect_substring: str | None = None,
) -> dict[str, Any]:
    """A load scenario that repeats one request."""
    return {"kind": "request", "method": method, "path": path, "body": body, "headers": headers or {},
            "expect": expect, "expect_substring": expect_substring}


def verify_scenario(jws: str) -> dict[str, Any]:
    """POST /v1/credentials/verify of one credential; a response that is not `verified: true` counts as an error."""
    return request_scenario("POST", "/v1/credentials/verify", {"verifiableCredential": jws},
                            expect_substring='"verified":true')


def issuance_scenario(api: Api, learners: int, *, item_count: int = 10) -> dict[str, Any]:
    """Whole attempts (start, submit all-correct, credential issued) on one assessment; `learners` learners
    take turns (size it so each makes only a few attempts: starting one reads the learner's earlier ones)."""
    assessment = api.new_assessment(item_count=item_count)
    return {
        "kind": "issuance",
        "assessment_id": assessment["id"],
        "responses": api.correct_responses(assessment),
        "learners": [api.new_learner(f"Bench Learner {index}") for index in range(learners)],
    }


# -- the load generator, driven from here ----------------------------------------------------------


@dataclass
class LoadResult:
    """What one load run measured; CPU figures cover the measured window only."""

    completed: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    client_cpu_s: float
    error_samples: list[str]
    concurrency: int
    engine: str
    phases: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_pct(self) -> float:
        return 100.0 * self.server_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def client_cpu_pct(self) -> float:
        return 100.0 * self.client_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def server_ms_per_op(self) -> float:
        return 1000.0 * self.server_cpu_s / self.completed if self.completed else float("nan")


def run_load(
    server: Server, scenario: dict[str, Any], *, concurrency: int, duration: float | None = None,
    warmup: float = 0.0, count: int | None = None, max_seconds: float = 120.0, engine: str = "httpx",
    client_prefix: Sequence[str] = (),
) -> LoadResult:
    """Run bench.loadgen in its own process against `server`: for `duration` s after `warmup` s, or `count`
    operations (capped at `max_seconds`); server CPU is sampled at the loadgen's START and END marks."""
    if (duration is None) == (count is None):
        raise ValueError("give exactly one of duration and count")
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench-scenario-", delete=False) as handle:
        json.dump(scenario, handle)
        scenario_path = handle.name
    argv = [*client_prefix, PYTHON, "-m", "bench.loadgen", "--url", server.url, "--scenario", scenario_path,
            "--engine", engine, "--concurrency", str(concurrency), "--warmup", str(warmup),
            "--max-seconds", str(max_seconds)]
    argv += ["--duration", str(duration)] if duration is not None else ["--count", str(count)]
    limit = (warmup + (duration or 0) if duration is not None else max_seconds) + 60.0
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(limit, process.kill)
    watchdog.start()
    marks: dict[str, float] = {}
    summary: dict[str, Any] | None = None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.strip()
            if line in ("START", "END"):
                marks[line] = server.cpu_seconds()
            elif line.startswith("{"):
                summary = json.loads(line)
        stderr = process.stderr.read() if process.stderr else ""
        process.wait(STOP_TIMEOUT)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            os.unlink(scenario_path)
    if summary is None or "START" not in marks or "END" not in marks:
        raise RuntimeError(f"the load generator failed (exit {process.returncode}):\n{stderr[-2000:]}")
    return LoadResult(
        completed=summary["completed"], errors=summary["errors"], seconds=summary["seconds"],
        p50_ms=summary["p50_ms"], p99_ms=summary["p99_ms"], server_cpu_s=marks["END"] - marks["START"],
        client_cpu_s=summary["client_cpu_s"], error_samples=summary["error_samples"], concurrency=concurrency,
        engine=engine, phases=summary.get("phases", {}),
    )


def load_cells(result: LoadResult) -> list[str]:
    """rate, p50, p99, errors, server CPU %, client CPU %, server CPU ms per operation."""
    return [f"{result.rate:,.0f}" if result.rate >= 100 else f"{result.rate:,.1f}", f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}", str(result.errors), f"{result.server_cpu_pct:.0f}%",
            f"{result.client_cpu_pct:.0f}%", f"{result.server_ms_per_op:.2f}"]


LOAD_HEADERS = ["p50 ms", "p99 ms", "errors", "server CPU", "client CPU", "server CPU ms/op"]


def check_errors(result: LoadResult, what: str) -> None:
    """Refuse figures from a run in which anything failed: they would flatter the server."""
    if result.errors:
        raise RuntimeError(f"{what}: {result.errors} operations failed, e.g. {result.error_samples[:3]}")


# -- in-process timing ------------------------------------------------------------------------------


@dataclass
class Timing:
    """Operations per second over several repeats."""

    name: str
    rates: list[float]

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def time_interleaved(
    candidates: dict[str, Callable[[], object]], *, repeats: int = 7, repeat_seconds: float = 0.25,
    warmup_seconds: float = 0.2,
) -> dict[str, Timing]:
    """Time each candidate with time.perf_counter: warm up, size the loop to ~repeat_seconds, then run the
    candidates in turn `repeats` times (interleaved, so drift in the machine hits every candidate alike)."""
    sizes: dict[str, int] = {}
    for name, function in candidates.items():
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < warmup_seconds and calls < 10_000_000:
            function()
            calls += 1
        per_call = (time.perf_counter() - started) / calls
        sizes[name] = max(1, min(10_000_000, int(repeat_seconds / per_call)))
    timings = {name: Timing(name, []) for name in candidates}
    for _ in range(repeats):
        for name, function in candidates.items():
            loop = range(sizes[name])
            started = time.perf_counter()
            for _ in loop:
                function()
            timings[name].rates.append(sizes[name] / (time.perf_counter() - started))
    return timings


# -- results ----------------------------------------------------------------------------------------


@dataclass
class Target:
    description: str
    met: bool
    detail: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    title: str = ""


@dataclass
class BenchResult:
    """One benchmark's figures: tables, the targets and whether they were met, notes."""

    key: str
    title: str
    tables: list[Table]
    targets: list[Target]
    notes: list[str] = field(default_factory=list)
    headline: list[list[str]] = field(default_factory=list)  # [what, figure, baseline, ratio] for the summary
    seconds: float = 0.0

    def text(self) -> str:
        parts = [f"== {self.title} =="]
        for table in self.tables:
            if table.title:
                parts.append(table.title)
            parts.append(text_table(table.headers, table.rows))
        for target in self.targets:
            parts.append(f"target: {target.description}: {'MET' if target.met else 'NOT MET'} ({target.detail})")
        parts += [f"note: {note}" for note in self.notes]
        return "\n".join(parts)

    def markdown(self) -> str:
        parts = [f"## {self.title}", ""]
        for table in self.tables:
            if table.title:
                parts += [f"*{table.title}*", ""]
            parts += [markdown_table(table.headers, table.rows), ""]
        for target in self.targets:
            parts.append(f"- Target {target.description}: **{'met' if target.met else 'not met'}** ({target.detail})")
        parts += [f"- {note}" for note in self.notes]
        parts.append(f"- Benchmark wall time: {self.seconds:.0f} s")
        return "\n".join(parts) + "\n"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(cell).ljust(width) if index == 0 else str(cell).rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=False))
        )

    return "\n".join([line(headers), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}×" if baseline else "n/a"


def mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MB:.1f}"


# -- the machine ------------------------------------------------------------------------------------

PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "SQLAlchemy", "psycopg",
            "cryptography", "PyJWT", "httpx", "psutil")


def machine() -> dict[str, str]:
    """nproc, CPU model, memory, OS, Python and package versions."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (absent)")
    postgres = "unknown"
    with contextlib.suppress(Exception):
        from sqlalchemy import create_engine, text

        engine = create_engine(POSTGRES_SERVER_URL)
        with engine.connect() as connection:
            postgres = str(connection.execute(text("SHOW server_version")).scalar())
        engine.dispose()
    import sqlite3

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{psutil.virtual_memory().total / 1024**3:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres,
        "packages": ", ".join(versions),
    }


# -- command line -----------------------------------------------------------------------------------


def parser(description: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    argp = argparse.ArgumentParser(description=description)
    argp.add_argument("--quick", action="store_true", help="shorter runs (rough figures, for a smoke test)")
    return argp


def main_of(run: Callable[[bool], BenchResult], description: str | None) -> None:
    """`python -m bench.<name>`: run one benchmark and print its tables."""
    args = parser(description).parse_args()
    started = time.perf_counter()
    result = run(args.quick)
    result.seconds = time.perf_counter() - started
    print(result.text())
    print(f"({result.seconds:.0f} s)")
