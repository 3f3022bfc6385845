"""The load generator, run as its own process by bench.common.run_load: N workers on one event loop.

Engines: `httpx` (httpx.AsyncClient; one client of one connection per worker, because one shared client
with 32 connections spends its time in the connection pool: ~430 req/s here against ~1,900 so) and `raw`
(a minimal HTTP/1.1 keep-alive client on asyncio streams, several times cheaper per request, to show what
the servers do when the client is less of a bottleneck).

Prints `START` when the measured window opens, `END` when it closes (the driver samples the server's CPU
at both), then one JSON line with the figures. Every loop is bounded in time, and in count where given.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

REQUEST_TIMEOUT = 30.0
# What one operation may raise and still count as a failed operation rather than end the run.
FAILURES = (httpx.HTTPError, OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, KeyError)
Operation = Callable[[int], Awaitable[str | None]]  # worker index -> None if it worked, else what failed
# Latencies of named steps inside an operation (e.g. the submit of a whole attempt), over the measured window.
PHASES: dict[str, list[float]] = {}


class Engine(Protocol):
    async def request(
        self, worker: int, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class HttpxEngine:
    """httpx.AsyncClient, one per worker, each with one keep-alive connection."""

    def __init__(self, url: str, workers: int):
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.clients = [httpx.AsyncClient(base_url=url, limits=limits, timeout=REQUEST_TIMEOUT) for _ in range(workers)]

    async def request(
        self, worker: int, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        response = await self.clients[worker].request(method, path, content=body, headers=headers)
        return response.status_code, response.content

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class RawConnection:
    """One HTTP/1.1 keep-alive connection: Content-Length or chunked bodies, reconnects after a close."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = body or b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        async with asyncio.timeout(REQUEST_TIMEOUT):
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            fields = head.lower()
            if b"\r\ntransfer-encoding: chunked" in fields:
                content = await self._chunked()
            else:
                at = fields.find(b"\r\ncontent-length:")
                if at < 0:
                    raise ConnectionError("a response without Content-Length or chunked encoding")
                length = int(fields[at + 17 : fields.index(b"\r\n", at + 2)])
                content = await self.reader.readexactly(length)
        if b"\r\nconnection: close" in fields:
            await self.aclose()
        return status, content

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(part[:-2] for part in parts)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class RawEngine:
    def __init__(self, url: str, workers: int):
        parts = urlsplit(url)
        self.connections = [RawConnection(parts.hostname or "127.0.0.1", parts.port or 80) for _ in range(workers)]

    async def request(
        self, worker: int, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        connection = self.connections[worker]
        try:
            return await connection.request(method, path, headers, body)
        except BaseException:
            await connection.aclose()  # never reuse a connection left mid-response
            raise

    async def aclose(self) -> None:
        for connection in self.connections:
            await connection.aclose()


ENGINES: dict[str, Callable[[str, int], Engine]] = {"httpx": HttpxEngine, "raw": RawEngine}


def request_operation(engine: Engine, scenario: dict[str, Any]) -> Operation:
    method, path, expect = scenario["method"], scenario["path"], scenario["expect"]
    headers = dict(scenario["headers"])
    body = None
    if scenario["body"] is not None:
        body = json.dumps(scenario["body"], separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    needle = scenario["expect_substring"].encode() if scenario["expect_substring"] else None

    async def operation(worker: int) -> str | None:
        status, content = await engine.request(worker, method, path, headers, body)
        if status != expect:
            return f"{status}: {content[:200]!r}"
        if needle is not None and needle not in content:
            return f"unexpected body: {content[:200]!r}"
        return None

    return operation


def issuance_operation(engine: Engine, scenario: dict[str, Any]) -> Operation:
    start_path = f"/v1/assessments/{scenario['assessment_id']}/attempts"
    answers = {response["prompt"]: response["answer"] for response in scenario["responses"]}
    learners = scenario["learners"]
    think = float(scenario.get("think_seconds", 0.0))
    # "fixed": every learner takes exactly `think` s (they stay in step, arriving in waves); "exponential":
    # a random time with about that mean, seeded per connection (independent learners, arrivals close to Poisson).
    random_think = scenario.get("think_distribution", "fixed") == "exponential"
    think_rngs: dict[int, random.Random] = {}
    turns = itertools.count()

    async def operation(worker: int) -> str | None:
        # Learners take turns, so each makes a few attempts as people do, not hundreds.
        headers = learners[next(turns) % len(learners)]
        status, content = await engine.request(worker, "POST", start_path, headers, None)
        if status != 201:
            return f"start {status}: {content[:200]!r}"
        attempt = json.loads(content)
        body = json.dumps(
            {"responses": [{"item_id": item["id"], "answer": answers[item["prompt"]]} for item in attempt["items"]]}
        ).encode()
        if think:
            if worker not in think_rngs:
                think_rngs[worker] = random.Random(worker)
            # the learner answering
            # (capped at 4 s: the client keeps its connection, which uvicorn closes after 5 s idle)
            await asyncio.sleep(min(think_rngs[worker].expovariate(1 / think), 4.0) if random_think else think)
        began = time.perf_counter()
        status, content = await engine.request(
            worker, "POST", f"/v1/attempts/{attempt['id']}/submit", {**headers, "Content-Type": "application/json"},
            body,
        )
        if status == 200:
            PHASES.setdefault("submit", []).append(time.perf_counter() - began)
        if status != 200:
            return f"submit {status}: {content[:200]!r}"
        if not json.loads(content).get("credential_id"):
            return f"no credential: {content[:200]!r}"
        return None

    return operation


OPERATIONS = {"request": request_operation, "issuance": issuance_operation}


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    scenario = json.loads(Path(args.scenario).read_text())
    latencies: list[float] = []
    errors: list[str] = []
    state = {"measuring": False, "stop": False, "tickets": 0}
    engine = ENGINES[args.engine](args.url, args.concurrency)
    try:
        operation = OPERATIONS[scenario["kind"]](engine, scenario)

        async def worker(index: int) -> None:
            while not state["stop"]:
                if args.count is not None:
                    if state["tickets"] >= args.count:
                        return
                    state["tickets"] += 1
                began = time.perf_counter()
                try:
                    problem = await operation(index)
                except FAILURES as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if state["measuring"]:
                    if problem is None:
                        latencies.append(time.perf_counter() - began)
                    else:
                        errors.append(problem)

        workers = [asyncio.create_task(worker(index)) for index in range(args.concurrency)]
        await asyncio.sleep(args.warmup)
        state["measuring"] = True
        PHASES.clear()
        print("START", flush=True)
        cpu0, began = time.process_time(), time.perf_counter()
        if args.count is None:
            await asyncio.sleep(args.duration)
        else:
            await asyncio.wait(workers, timeout=args.max_seconds)
        state["measuring"] = False
        phases = {name: sorted(values) for name, values in PHASES.items()}
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu0
        print("END", flush=True)
        state["stop"] = True
        _, pending = await asyncio.wait(workers, timeout=REQUEST_TIMEOUT + 5)
        for task in pending:
            task.cancel()
    finally:
        await engine.aclose()
    latencies.sort()
    return {
        "completed": len(latencies), "errors": len(errors), "seconds": seconds, "client_cpu_s": cpu,
        "p50_ms": 1000 * percentile(latencies, 0.50), "p99_ms": 1000 * percentile(latencies, 0.99),
        "error_samples": errors[:5],
        "phases": {
            name: {"count": len(values), "p50_ms": 1000 * percentile(values, 0.50),
                   "p99_ms": 1000 * percentile(values, 0.99)}
            for name, values in phases.items()
        },
    }


def main() -> None:
    argp = argparse.ArgumentParser(description=__doc__)
    argp.add_argument("--url", required=True)
    argp.add_argument("--scenario", required=True, help="a JSON file written by bench.common")
    argp.add_argument("--engine", choices=sorted(ENGINES), default="httpx")
    argp.add_argument("--concurrency", type=int, default=32)
    argp.add_argument("--warmup", type=float, default=0.0)
    argp.add_argument("--duration", type=float, default=None)
    argp.add_argument("--count", type=int, default=None)
    argp.add_argument("--max-seconds", type=float, default=120.0)
    args = argp.parse_args()
    if (args.duration is None) == (args.count is None):
        argp.error("give exactly one of --duration and --count")
    try:
        import uvloop
    except ImportError:
        summary = asyncio.run(drive(args))
    else:
        summary = uvloop.run(drive(args))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
