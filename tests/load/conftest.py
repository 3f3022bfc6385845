"""Real `skillproof serve` processes on SQLite or PostgreSQL, an async load client, and figures in the summary."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import PROJECT_ROOT
from tests.conftest import FIGURES_PROPERTY, migrated_database
from tests.servers import free_port, wait_until_healthy

ADMIN_KEY = "load-admin-key-0123456789abcdef"
SKILLPROOF = str(Path(sys.executable).parent / "skillproof")
_PENDING_FIGURES: list[str] = []


def report(test: str, **figures: Any) -> None:
    """Print a test's figures now (visible with -s) and again in the terminal summary."""
    line = f"{test}: " + ", ".join(f"{name}={_fmt(value)}" for name, value in figures.items())
    print(line)
    _PENDING_FIGURES.append(line)


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Figures travel in the test's report, so they reach the summary from an xdist worker too
    (tests/conftest.py prints them)."""
    test_report = yield
    test_report.user_properties += [(FIGURES_PROPERTY, line) for line in _PENDING_FIGURES]
    _PENDING_FIGURES.clear()
    return test_report


@dataclass
class Server:
    """One `skillproof serve` process."""

    workdir: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        self.port = self.port or free_port()
        env = {
            **os.environ,
            "SKILLPROOF_DATABASE_URL": self.database_url,
            "SKILLPROOF_KEYS_DIR": str(self.workdir / "keys"),
            "SKILLPROOF_ADMIN_API_KEY": ADMIN_KEY,
            "SKILLPROOF_PUBLIC_URL": "http://localhost",
            "SKILLPROOF_RATE_LIMITS": "off",
            "SKILLPROOF_PRECISION_GATE": "off",  # small assessments; tests/test_precision.py runs the gate
            **self.env,
        }
        log = (self.workdir / f"server-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [SKILLPROOF, "serve", "--port", str(self.port)], env=env, cwd=PROJECT_ROOT, stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if not wait_until_healthy(self.url, self.process):
            self.kill()
            raise RuntimeError(self.log())
        return self

    def log(self) -> str:
        return "".join(path.read_text(errors="replace")[-4000:] for path in self.workdir.glob("server-*.log"))

    def kill(self) -> None:
        """kill -9."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> float:
        """SIGTERM; returns the seconds it took to exit (kills it, and returns inf, if it does not)."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return float("inf")
        return time.monotonic() - began


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database per test module; PostgreSQL only when configured."""
    with migrated_database(request, tmp_path_factory.mktemp("loaddb")) as url:
        yield url


def backend_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path, database_url).start()
    try:
        yield running
    finally:
        running.stop()


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def async_client(url: str, connections: int = 600, timeout: float = 60.0) -> httpx.AsyncClient:
    """One client, enough connections that every request of a burst is in flight at once."""
    # Idle connections expire before uvicorn's 5 s keep-alive, so none is reused as the server closes it.
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=1.0)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout)


class HealthProbe:
    """GET /health every 100 ms from a process of its own while a burst runs, and once after it."""

    def __init__(self, url: str):
        self.url = url
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._process: subprocess.Popen[str] | None = None

    async def __aenter__(self) -> HealthProbe:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.load.health_probe", self.url], cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE, text=True,
        )
        assert self._process.stdout is not None
        await asyncio.to_thread(self._process.stdout.readline)  # "ready"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._process is not None
        await asyncio.sleep(0.3)  # and a few probes after the burst
        self._process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(self._process.communicate, timeout=15)
        for line in output.split("\n"):
            if line.startswith("failed"):
                self.failures.append(line)
            elif line.strip():
                self.latencies.append(float(line))
        if not self.latencies:
            self.failures.append("no probe answered")

    @property
    def worst(self) -> float:
        return max(self.latencies, default=float("inf"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
