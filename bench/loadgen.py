"""The load generator, run as its own process by bench.common.run_load: httpx.AsyncClient, N workers.

Prints `START` when the measured window opens, `END` when it closes (the driver samples the server's CPU
at both), then one JSON line with the figures. Every loop is bounded in time, and in count where given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

Operation = Callable[[int], Awaitable[str | None]]  # worker index -> None if it worked, else what failed
REQUEST_TIMEOUT = 30.0


def request_operation(client: httpx.AsyncClient, scenario: dict[str, Any]) -> Operation:
    method, path, expect = scenario["method"], scenario["path"], scenario["expect"]
    headers = dict(scenario["headers"])
    body = None
    if scenario["body"] is not None:
        body = json.dumps(scenario["body"], separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    needle = scenario["expect_substring"].encode() if scenario["expect_substring"] else None

    async def operation(_: int) -> str | None:
        response = await client.request(method, path, content=body, headers=headers)
        if response.status_code != expect:
            return f"{response.status_code}: {response.text[:200]}"
        if needle is not None and needle not in response.content:
            return f"unexpected body: {response.text[:200]}"
        return None

    return operation


def issuance_operation(client: httpx.AsyncClient, scenario: dict[str, Any]) -> Operation:
    start_path = f"/v1/assessments/{scenario['assessment_id']}/attempts"
    answers = json.dumps({"responses": scenario["responses"]}, separators=(",", ":")).encode()
    learners = scenario["learners"]

    async def operation(worker: int) -> str | None:
        headers = learners[worker % len(learners)]
        started = await client.post(start_path, headers=headers)
        if started.status_code != 201:
            return f"start {started.status_code}: {started.text[:200]}"
        submitted = await client.post(
            f"/v1/attempts/{started.json()['id']}/submit", content=answers,
            headers={**headers, "Content-Type": "application/json"},
        )
        if submitted.status_code != 200:
            return f"submit {submitted.status_code}: {submitted.text[:200]}"
        if not submitted.json().get("credential_id"):
            return f"no credential: {submitted.text[:200]}"
        return None

    return operation


OPERATIONS = {"request": request_operation, "issuance": issuance_operation}


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    scenario = json.loads(Path(args.scenario).read_text())
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    latencies: list[float] = []
    errors: list[str] = []
    state = {"measuring": False, "stop": False, "tickets": 0}
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=REQUEST_TIMEOUT) as client:
        operation = OPERATIONS[scenario["kind"]](client, scenario)

        async def worker(index: int) -> None:
            while not state["stop"]:
                if args.count is not None:
                    if state["tickets"] >= args.count:
                        return
                    state["tickets"] += 1
                began = time.perf_counter()
                try:
                    problem = await operation(index)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if state["measuring"]:
                    if problem is None:
                        latencies.append(time.perf_counter() - began)
                    else:
                        errors.append(problem)

        workers = [asyncio.create_task(worker(index)) for index in range(args.concurrency)]
        await asyncio.sleep(args.warmup)
        state["measuring"] = True
        print("START", flush=True)
        cpu0, began = time.process_time(), time.perf_counter()
        if args.count is None:
            await asyncio.sleep(args.duration)
        else:
            await asyncio.wait(workers, timeout=args.max_seconds)
        state["measuring"] = False
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu0
        print("END", flush=True)
        state["stop"] = True
        _, pending = await asyncio.wait(workers, timeout=REQUEST_TIMEOUT + 5)
        for task in pending:
            task.cancel()
    latencies.sort()
    return {
        "completed": len(latencies), "errors": len(errors), "seconds": seconds, "client_cpu_s": cpu,
        "p50_ms": 1000 * percentile(latencies, 0.50), "p99_ms": 1000 * percentile(latencies, 0.99),
        "error_samples": errors[:5],
    }


def main() -> None:
    argp = argparse.ArgumentParser(description=__doc__)
    argp.add_argument("--url", required=True)
    argp.add_argument("--scenario", required=True, help="a JSON file written by bench.common")
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
