"""CPU per POST /v1/credentials/verify and per verify-batch credential, in-process (the ASGI app called directly).

For measuring changes on a busy machine, where wrk's wall-clock figures are noise: process CPU time (not wall
time) of the whole app as `skillproof serve` runs it (fast path, request id, metrics, JSON access line to a
file, status read from SQLite on every call), minus uvicorn and the socket. The verified-token cache is
emptied before every call, so every call checks its signature. Repeats are interleaved and the median kept.

    python -m bench.verify_cpu [--alg ES256|EdDSA] [--count 200] [--repeats 7] [--profile]

Credentials are issued once into a cached directory (BENCH_CPU_DIR, default /tmp/skillproof-verify-cpu) and
reused, so two checkouts (PYTHONPATH) can be compared on the same tokens and database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bench.common import ADMIN_KEY, PUBLIC_URL

BATCH = 1000


def _settings(home: Path, alg: str) -> Any:
    from app.config import Settings

    return Settings(
        database_url=f"sqlite:///{home / 'skillproof.db'}", keys_dir=home / "keys", public_url=PUBLIC_URL,
        admin_api_key=ADMIN_KEY, rate_limits="off", default_max_attempts=0, default_retake_cooldown_seconds=0,
        signing_alg=alg, precision_gate="off",  # 10-item assessments, as bench/common's servers run them
    )


def _issue(home: Path, alg: str, count: int) -> list[str]:
    """`count` distinct credentials signed with `alg` (issued once, then read from home/tokens.json)."""
    cached = home / "tokens.json"
    if cached.exists():
        tokens: list[str] = json.loads(cached.read_text())
        if len(tokens) >= count:
            return tokens[:count]
    from fastapi.testclient import TestClient

    from app.cli import migrate
    from app.main import create_app

    home.mkdir(parents=True, exist_ok=True)
    settings = _settings(home, alg)
    migrate(settings)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    tokens = []
    with TestClient(create_app(settings), base_url=PUBLIC_URL) as client:
        draft = client.post("/v1/assessments", headers=admin, json={
            "skill": "python", "level": "foundation", "item_count": 10}).json()
        assessment = client.post(f"/v1/assessments/{draft['id']}/publish", headers=admin).json()
        answers = {item["prompt"]: item["answer"] for item in assessment["items"]}
        for index in range(count):
            key = client.post("/v1/learners", headers=admin, json={"name": f"Bench {index}"}).json()
            learner = {"Authorization": f"Bearer {key['api_key']}"}
            attempt = client.post(f"/v1/assessments/{assessment['id']}/attempts", headers=learner).json()
            grade = client.post(f"/v1/attempts/{attempt['id']}/submit", headers=learner, json={"responses": [
                {"item_id": item["id"], "answer": answers[item["prompt"]]} for item in attempt["items"]]}).json()
            tokens.append(client.get(f"/v1/credentials/{grade['credential_id']}", headers=learner).json()["jwt"])
    cached.write_text(json.dumps(tokens))
    return tokens


def _scope(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
    }


async def _post(app: Any, path: str, body: bytes) -> tuple[int, bytes]:
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(_scope(path, body), receive, send)
    return status, b"".join(chunks)


class _Transport:
    """Enough of an asyncio transport for uvicorn's protocol: keeps what is written."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class _Connection:
    """One kept-alive HTTP/1.1 connection into the app through the protocol `skillproof serve` runs
    (app.ops.timeouts over uvicorn's httptools protocol): request bytes in, response bytes out."""

    def __init__(self, app: Any, settings: Any, loop: asyncio.AbstractEventLoop):
        import uvicorn
        from uvicorn.server import ServerState

        from app.ops.timeouts import timed_protocol

        base = timed_protocol(settings.header_timeout_seconds, settings.body_timeout_seconds)
        connection = self

        class Probe(base):  # type: ignore[valid-type, misc]
            def on_response_complete(self) -> None:
                super().on_response_complete()
                connection.done.set_result(None)

        config = uvicorn.Config(app, http=Probe, proxy_headers=False, log_config=None, lifespan="off")
        config.load()
        self.loop = loop
        self.transport = _Transport()
        self.protocol = Probe(config=config, server_state=ServerState(), app_state={}, _loop=loop)
        self.protocol.connection_made(self.transport)
        self.done: asyncio.Future[None] = loop.create_future()

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.done = self.loop.create_future()
        self.transport.written.clear()
        self.protocol.data_received(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
        await self.done
        await asyncio.sleep(0)  # writes held to the end of the step
        response = b"".join(self.transport.written)
        head, _, answer = response.partition(b"\r\n\r\n")
        return int(head[9:12]), answer


def _cpu_per_call(call: Callable[[], Awaitable[None]], loop: asyncio.AbstractEventLoop, calls: int) -> float:
    async def run() -> None:
        for _ in range(calls):
            await call()

    started = time.process_time()
    loop.run_until_complete(run())
    return (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alg", default="ES256", choices=("ES256", "EdDSA"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=1000, help="single verifies per repeat")
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the single verify instead of timing")
    parser.add_argument("--callgrind", choices=("single", "batch"), help="run --calls single verifies (or one batch) "
                        "inside breakpoint(), for valgrind --tool=callgrind --collect-atstart=no "
                        "--toggle-collect=builtin_breakpoint: instructions of those calls only")
    parser.add_argument("--asgi", action="store_true", help="call the ASGI app directly (no uvicorn protocol)")
    args = parser.parse_args()

    home = Path(os.environ.get("BENCH_CPU_DIR", "/tmp/skillproof-verify-cpu")) / args.alg  # noqa: S108 - a cache
    tokens = _issue(home, args.alg, args.count)

    import uvloop

    from app.main import create_app
    from app.ops.logging import configure_logging

    configure_logging("json", "info")
    sink = open(os.devnull, "w")  # noqa: SIM115 - the access lines are formatted and written, as to a log file
    logging.getLogger().handlers[0].stream = sink  # type: ignore[attr-defined]
    settings = _settings(home, args.alg)
    try:
        app = create_app(settings, freeze_heap=True)  # as `skillproof serve` runs it
    except TypeError:  # a checkout from before freeze_heap
        app = create_app(settings)
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    verifier = app.state.verifier
    singles = [json.dumps({"verifiableCredential": token}).encode() for token in tokens]
    batches = [json.dumps({"verifiableCredentials": [tokens[(start + i) % len(tokens)] for i in range(BATCH)]}).encode()
               for start in range(0, len(tokens), 37)]
    position = {"single": 0, "batch": 0}
    post: Callable[[str, bytes], Awaitable[tuple[int, bytes]]]
    post = (lambda path, body: _post(app, path, body)) if args.asgi else _Connection(app, settings, loop).post

    async def verify_one() -> None:
        cache = verifier.verified_tokens  # emptied: every call checks its signature, as with 1,100 in turn
        cache.clear() if hasattr(cache, "clear") else cache._entries.clear()  # (a checkout from before clear())
        body = singles[position["single"] % len(singles)]
        position["single"] += 1
        status, answer = await post("/v1/credentials/verify", body)
        if status != 200 or b'"verified":true' not in answer:
            raise RuntimeError(f"verify answered {status}: {answer[:300]!r}")

    async def verify_batch() -> None:
        body = batches[position["batch"] % len(batches)]
        position["batch"] += 1
        status, answer = await post("/v1/credentials/verify-batch", body)
        if status != 200 or answer.count(b'"verified":true') != BATCH:
            raise RuntimeError(f"verify-batch answered {status}: {answer[:300]!r}")

    _cpu_per_call(verify_one, loop, 200)  # warm-up
    if args.callgrind:
        import sys
        import types

        from app.verification import router

        request = types.SimpleNamespace(app=app)

        def batch_in_this_thread() -> None:
            # The route's work without its worker thread (callgrind counts the thread that calls breakpoint()).
            body, _ = router.parse_body(batches[0], mark_duplicates=True)
            answer = orjson.dumps({"results": router.verify_many_json(request, body["verifiableCredentials"], None)})
            if answer.count(b'"verified":true') != BATCH:
                raise RuntimeError(f"verify-batch answered {answer[:300]!r}")

        batch_in_this_thread()
        if args.callgrind == "single":
            sys.breakpointhook = lambda: _cpu_per_call(verify_one, loop, args.calls)
            calls = args.calls
        else:
            sys.breakpointhook, calls = batch_in_this_thread, 1
        breakpoint()
        print(f"callgrind: {calls} {args.callgrind} call(s) measured")
        return
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        _cpu_per_call(verify_one, loop, args.calls)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        return
    if not args.no_batch:
        _cpu_per_call(verify_batch, loop, 1)
    single, batch = [], []
    for _ in range(args.repeats):
        single.append(_cpu_per_call(verify_one, loop, args.calls) * 1e6)
        if not args.no_batch:
            batch.append(_cpu_per_call(verify_batch, loop, 1) * 1e6 / BATCH)
    print(f"{args.alg} token {len(tokens[0]):,} chars; single verify µs CPU: median {statistics.median(single):.1f} "
          f"(min {min(single):.1f}, all {' '.join(f'{v:.0f}' for v in single)})")
    if batch:
        print(f"{args.alg} verify-batch µs CPU per credential: median {statistics.median(batch):.1f} "
              f"(min {min(batch):.1f}, all {' '.join(f'{v:.0f}' for v in batch)})")
    loop.run_until_complete(lifespan.__aexit__(None, None, None))


if __name__ == "__main__":
    main()
