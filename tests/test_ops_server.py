"""`skillproof serve` as a real process on real sockets: read timeouts (slowloris), request ids, JSON logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, serving

# Every test times the server's timeouts or /health under 300 connections: run alone, in `make pytest`'s serial pass.
pytestmark = pytest.mark.serial
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0
SLOW_CONNECTIONS = 300
MARGIN = 1.5  # timers fire on the event loop; the loop is busy with 300 trickling clients


@dataclass
class Server:
    url: str
    host: str
    port: int
    log: Path
    admin_key: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """skillproof serve on 127.0.0.1 and a free port, with short read timeouts; its stderr goes to a file."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    admin_key = "sk_ops-test-admin-key-0123456789abcdef"
    env = {
        "SKILLPROOF_DATABASE_URL": f"sqlite:///{root / 'skillproof.db'}",
        "SKILLPROOF_KEYS_DIR": str(root / "keys"),
        "SKILLPROOF_ADMIN_API_KEY": admin_key,
        "SKILLPROOF_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "SKILLPROOF_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
        "SKILLPROOF_RATE_LIMIT_FAILED_AUTH": "5/minute",
    }
    with serving(root, env, port):
        yield Server(url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port, log=root / "server.log",
                     admin_key=admin_key)


async def _slow_client(server: Server, first: bytes, trickle: bytes, results: list[tuple[float, bytes]]) -> None:
    """Send `first`, then one byte of `trickle` every 0.5 s; record when the server closed and what it said."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(first)
    answer = b""

    async def trickle_bytes() -> None:
        for index in range(len(trickle)):
            await asyncio.sleep(0.5)
            writer.write(trickle[index:index + 1])
            await writer.drain()

    feeder = asyncio.create_task(trickle_bytes())
    try:
        while chunk := await reader.read(4096):
            answer += chunk
    except ConnectionError:
        pass
    finally:
        feeder.cancel()
        writer.close()
    results.append((time.monotonic() - started, answer))


async def _health_latencies(server: Server, count: int) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for _ in range(count):
            started = time.monotonic()
            response = await client.get("/health")
            latencies.append(time.monotonic() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.2)
    return latencies


def test_slowloris_connections_are_cut_and_others_still_served(server: Server) -> None:
    """300 clients trickling header bytes: /health answers in < 1 s meanwhile; each is closed with 408."""

    async def scenario() -> tuple[list[tuple[float, bytes]], list[float]]:
        results: list[tuple[float, bytes]] = []
        first = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        trickle = b"X-Slow: " + b"a" * 200  # never ends the headers
        clients = [
            asyncio.create_task(_slow_client(server, first, trickle, results)) for _ in range(SLOW_CONNECTIONS)
        ]
        await asyncio.sleep(0.5)  # all connected and trickling
        latencies = await _health_latencies(server, 5)
        await asyncio.wait_for(asyncio.gather(*clients), timeout=HEADER_TIMEOUT + 30)
        return results, latencies

    results, latencies = asyncio.run(scenario())
    slowest = max(elapsed for elapsed, _ in results)
    print(f"\n{SLOW_CONNECTIONS} slow-header connections: /health max {max(latencies) * 1000:.0f} ms while held; "
          f"all closed within {slowest:.2f} s (header timeout {HEADER_TIMEOUT} s)")
    assert max(latencies) < 1.0
    assert len(results) == SLOW_CONNECTIONS
    assert slowest < HEADER_TIMEOUT + MARGIN
    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in results)


def test_silent_connection_is_closed_after_the_header_timeout(server: Server) -> None:
    """A client that connects and sends nothing is closed too."""
    started = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=HEADER_TIMEOUT + 10) as sock:
        answer = sock.recv(4096)
        while chunk := sock.recv(4096):
            answer += chunk
    elapsed = time.monotonic() - started
    assert HEADER_TIMEOUT - 0.2 < elapsed < HEADER_TIMEOUT + MARGIN
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "request_timeout"


def test_slow_body_is_cut_after_the_body_timeout(server: Server) -> None:
    """Headers on time, then a body trickled a byte every 0.5 s: 408 and closed after the body timeout."""
    results: list[tuple[float, bytes]] = []
    first = (
        b"POST /v1/credentials/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 500\r\n\r\n"
    )
    asyncio.run(asyncio.wait_for(_slow_client(server, first, b"{" * 100, results), timeout=BODY_TIMEOUT + 30))
    [(elapsed, answer)] = results
    assert BODY_TIMEOUT - 0.2 < elapsed < BODY_TIMEOUT + MARGIN
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert httpx.get(f"{server.url}/health", timeout=2).status_code == 200
    time.sleep(0.3)
    log = server.log.read_text()
    assert "unhandled error" not in log and "Exception in ASGI application" not in log


def test_slow_but_honest_clients_are_served(server: Server) -> None:
    """Headers over 1 s (under the timeout) and a second request on the kept-alive connection both work."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        request = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for part in (request[:10], request[10:30], request[30:]):
            sock.sendall(part)
            time.sleep(0.5)
        first = sock.recv(4096)
        time.sleep(1.0)  # idle, within uvicorn's keep-alive
        sock.sendall(request)
        second = sock.recv(4096)
    assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"HTTP/1.1 200 ")


def _exchange(server: Server, request: bytes) -> bytes:
    answer = b""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        with contextlib.suppress(ConnectionError):  # closed while we were still sending: read what it said
            sock.sendall(request)
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b"connection: close" not in answer.lower():
                    break
    return answer


def test_oversized_headers_get_431(server: Server) -> None:
    """Megabytes of headers are refused (httptools alone accepted 16 MB); 16 KB of headers are fine."""
    huge = b"GET /health HTTP/1.1\r\nHost: x\r\n" + (b"X-Big: " + b"a" * 8000 + b"\r\n") * 40 + b"\r\n"
    assert _exchange(server, huge).startswith(b"HTTP/1.1 431 ")
    fine = b"GET /health HTTP/1.1\r\nHost: x\r\n" + (b"X-Big: " + b"a" * 8000 + b"\r\n") * 2 + b"\r\n"
    assert _exchange(server, fine).startswith(b"HTTP/1.1 200 ")


def test_logs_are_json_lines_with_request_ids_and_no_secrets(server: Server) -> None:
    """Requests carrying a key, a JWS and answers: every log line is JSON, none holds any of them."""
    bad_key = "sk_this-is-a-secret-key-that-must-not-be-logged"
    jws = "eyJhbGciOiJFUzI1NiJ9.eyJzZWNyZXQiOiJwYXlsb2FkLWluLWxvZ3MifQ.c2lnbmF0dXJlLW11c3Qtbm90LWxlYWs"
    answer = "my-secret-answer-6b1d"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        admin = {"Authorization": f"Bearer {server.admin_key}"}
        learner = client.post("/v1/learners", json={"name": "Logged Learner"}, headers=admin).json()
        learner_headers = {"Authorization": f"Bearer {learner['api_key']}"}
        responses = [
            client.get("/v1/skills", headers={"Authorization": f"Bearer {bad_key}", "X-Request-ID": "trace-42"}),
            client.post("/v1/credentials/verify", json={"verifiableCredential": jws}),
            client.post(f"/v1/attempts/{answer}/submit", headers=learner_headers,
                        json={"responses": [{"item_id": "x", "answer": answer}]}),
            client.get("/v1/learners/me", headers={**learner_headers, "X-Request-ID": "bad id with spaces"}),
        ]
    assert responses[0].status_code == 401 and responses[0].headers["x-request-id"] == "trace-42"
    assert responses[1].status_code == 200
    generated = responses[3].headers["x-request-id"]
    assert generated != "bad id with spaces" and len(generated) == 32
    time.sleep(0.3)  # the access line is written after the response
    text = server.log.read_text()
    for secret in (bad_key, jws, jws.split(".")[1], answer, server.admin_key, learner["api_key"]):
        assert secret not in text
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [record for record in records if record["logger"] == "skillproof.access"]
    traced = next(record for record in access if record.get("request_id") == "trace-42")
    assert traced["route"] == "/v1/skills" and traced["status"] == 401 and traced["method"] == "GET"
    assert {"time", "level", "message", "duration_ms", "client"} <= set(traced)
    assert any(record.get("route") == "/v1/attempts/{attempt_id}/submit" for record in access)
    # Only the startup banner is not JSON.
    assert all(line.startswith("{") for line in text.splitlines() if line and "Skillproof serving" not in line)


def test_bad_keys_get_429_with_retry_after_and_probes_still_answer(server: Server) -> None:
    """Runs last: it locks this client address out of authentication for a minute."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        statuses = [client.get("/v1/skills", headers={"Authorization": f"Bearer sk_guess-{index}"}).status_code
                    for index in range(8)]
        assert statuses.count(401) <= 5 and statuses[-1] == 429
        refused = client.get("/v1/skills", headers={"Authorization": "Bearer sk_guess-again"})
        assert refused.json()["error"] == "rate_limited" and int(refused.headers["retry-after"]) >= 1
        assert client.get("/ready").json()["status"] == "ready"
        assert client.get("/health").status_code == 200
        assert 'skillproof_rate_limited_total{group="failed_auth"}' in client.get("/metrics").text
