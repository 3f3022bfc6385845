"""Real server processes for tests: a free port on 127.0.0.1, and waiting until one answers /health."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.config import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], seconds: float = 60.0) -> bool:
    """True once GET /health answers 200; False if the process exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@contextmanager
def serving(workdir: Path, env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`skillproof serve` on 127.0.0.1:port with `env` over os.environ, logging to workdir/server.log; stopped at exit.

    Fails the test with the server's log when it does not answer /health within a minute.
    """
    log = workdir / "server.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT, env={**os.environ, **env}, stdout=log_file, stderr=subprocess.STDOUT,
        )
    try:
        if not wait_until_healthy(f"http://127.0.0.1:{port}", process):
            import pytest

            pytest.fail(f"server did not start:\n{log.read_text()}")
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not exited 15 s later."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def own_store(root: Path, public_url: str) -> dict[str, str]:
    """Settings for a server of its own: SQLite database and keys under `root`, and its public URL."""
    return {
        "SKILLPROOF_DATABASE_URL": f"sqlite:///{root / 'skillproof.db'}",
        "SKILLPROOF_KEYS_DIR": str(root / "keys"),
        "SKILLPROOF_PUBLIC_URL": public_url,
    }


@contextmanager
def fresh_server(root: Path, admin_key: str, *, public_host: str = "127.0.0.1") -> Iterator[tuple[str, str]]:
    """`skillproof serve` on its own SQLite database and keys under `root`, rate limits off, `admin_key`
    registered; yields (its public URL on `public_host`, the address it listens on)."""
    port = free_port()
    public = f"http://{public_host}:{port}"
    env = {
        **own_store(root, public),
        "SKILLPROOF_ADMIN_API_KEY": admin_key,
        "SKILLPROOF_RATE_LIMITS": "off",
        "SKILLPROOF_PRECISION_GATE": "off",  # small assessments; tests/test_precision.py runs the gate
    }
    with serving(root, env, port):
        yield public, f"http://127.0.0.1:{port}"
