"""POST /v1/credentials/verify and /verify-batch under wrk, beside a bare FastAPI route and raw Ed25519.

Server and wrk are each pinned to one core with taskset (BENCH_SERVER_CPUS, default "1"; BENCH_CLIENT_CPUS,
default "0"): 1 wrk thread, 32 connections, a Lua script posting the bodies. Verify is measured on distinct
credentials in turn (more than the verified-token cache holds, so every request verifies its signature) and
on one credential repeated. Batch: 1,000 distinct credentials per request, in credentials per second,
beside cryptography's Ed25519 verify of the same-size message on one core in this process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from bench.common import (
    PYTHON,
    SKILLPROOF,
    Api,
    BenchResult,
    Server,
    Table,
    Target,
    free_port,
    main_of,
    skillproof_env,
    sqlite_url,
    time_interleaved,
    workdir,
)

TARGET_HTTP = 0.33
TARGET_BATCH = 0.6
CONNECTIONS = 32
SERVER_CPUS = os.environ.get("BENCH_SERVER_CPUS", "1")
CLIENT_CPUS = os.environ.get("BENCH_CLIENT_CPUS", "0")
DISTINCT = 1100  # > VerifiedTokens' 1,024 entries: every request in the rotation misses the cache
BATCH = 1000

# Posts the bodies in turn (one per line of the file named by BODIES); counts non-2xx and bodies without the
# expected text as errors, so figures from a failing server are refused.
LUA = r"""
local bodies, n, errors, bad = {}, 0, 0, 0
local path = os.getenv("BODIES")
for line in io.lines(path) do n = n + 1; bodies[n] = line end
local i = 0
local expect = os.getenv("EXPECT")
request = function()
  i = i % n + 1
  return wrk.format("POST", os.getenv("TARGET"), {["Content-Type"] = "application/json"}, bodies[i])
end
response = function(status, headers, body)
  if status ~= 200 or (expect ~= "" and not string.find(body, expect, 1, true)) then bad = bad + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("BAD %d\n", bad))
end
"""


def _pin(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if shutil.which("taskset") and cpus else []


def _server(name: str, argv: list[str], directory: Path, env: dict[str, str], port: int) -> Server:
    return Server(name, [*_pin(SERVER_CPUS), *argv], port, directory / f"{name}-{port}.log", env)


def wrk(server: Server, path: str, bodies: list[str], directory: Path, *, seconds: int, connections: int,
        expect: str) -> tuple[float, float, float]:
    """(requests/s, server CPU ms per request, p99 ms) of wrk posting `bodies` in turn."""
    body_file = directory / f"bodies-{abs(hash(path))}-{len(bodies)}.txt"
    body_file.write_text("\n".join(bodies) + "\n")
    script = directory / "post.lua"
    script.write_text(LUA)
    env = {**os.environ, "BODIES": str(body_file), "TARGET": path, "EXPECT": expect}
    argv = [*_pin(CLIENT_CPUS), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
            server.url]
    subprocess.run([*argv[:-4], "-d2s", *argv[-3:]], env=env, capture_output=True, text=True, check=True,
                   timeout=60)  # warm-up
    before = server.cpu_seconds()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=True)
    cpu = server.cpu_seconds() - before
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    total = re.search(r"(\d+) requests in", done.stdout)
    bad = re.search(r"BAD (\d+)", done.stdout)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", done.stdout)
    if not (rate and total and bad):
        raise RuntimeError(f"wrk said:\n{done.stdout}\n{done.stderr}")
    if int(bad.group(1)):
        raise RuntimeError(f"{server.name} {path}: {bad.group(1)} bad responses; log:\n{server.log_tail()}")
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)] if p99 else float("nan")
    return float(rate.group(1)), 1000 * cpu / int(total.group(1)), p99_ms


def raw_ed25519(message_size: int) -> float:
    """cryptography's Ed25519PublicKey.verify per second on one core, for a message of the token's size."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    message = os.urandom(message_size)
    signature, public = key.sign(message), key.public_key()
    if _pin(SERVER_CPUS):
        os.sched_setaffinity(0, {int(SERVER_CPUS.split(",")[0])})
    return time_interleaved({"ed25519": lambda: public.verify(signature, message)})["ed25519"].median


def _earn(api: Api, count: int) -> list[str]:
    """`count` distinct credentials: one learner per credential, on one assessment."""
    assessment = api.new_assessment()
    answers = {r["prompt"]: r["answer"] for r in api.correct_responses(assessment)}
    tokens = []
    for index in range(count):
        learner = api.new_learner(f"Bench {index}")
        attempt = api._call("POST", f"/v1/assessments/{assessment['id']}/attempts", 201, headers=learner)
        grade = api._call("POST", f"/v1/attempts/{attempt['id']}/submit", 200, headers=learner, json={
            "responses": [{"item_id": item["id"], "answer": answers[item["prompt"]]} for item in attempt["items"]]})
        tokens.append(api._call("GET", f"/v1/credentials/{grade['credential_id']}", 200, headers=learner)["jwt"])
    return tokens


def run(quick: bool = False) -> BenchResult:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is needed (Debian: apt-get install -y wrk)")
    seconds = 3 if quick else 10
    rows: list[list[str]] = []
    with workdir() as directory:
        env = skillproof_env(sqlite_url(directory), directory)
        subprocess.run([SKILLPROOF, "migrate"], env={**os.environ, **env}, check=True, capture_output=True)
        port = free_port()
        real = _server("skillproof", [SKILLPROOF, "serve", "--host", "127.0.0.1", "--port", str(port)],
                       directory, env, port)
        with real:
            real.start()
            with Api(real) as api:
                tokens = _earn(api, DISTINCT)  # even when quick: fewer would let repeats hit the caches
            single = [json.dumps({"verifiableCredential": token}) for token in tokens]
            verify_cold = wrk(real, "/v1/credentials/verify", single, directory, seconds=seconds,
                              connections=CONNECTIONS, expect='"verified":true')
            verify_repeat = wrk(real, "/v1/credentials/verify", single[:1], directory, seconds=seconds,
                                connections=CONNECTIONS, expect='"verified":true')
            batches = [json.dumps({"verifiableCredentials": [tokens[(start + i) % len(tokens)] for i in range(BATCH)]})
                       for start in range(0, len(tokens), 97)]
            batch = wrk(real, "/v1/credentials/verify-batch", batches, directory, seconds=seconds, connections=2,
                        expect='"results":[{"verified":true')
        port = free_port()
        bare_server = _server("bare", [PYTHON, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1",
                                       "--port", str(port), "--workers", "1", "--no-access-log", "--log-level",
                                       "warning"], directory, {}, port)
        with bare_server:
            bare_server.start(ready_path="/")
            bare = wrk(bare_server, "/v1/credentials/verify", single, directory, seconds=seconds,
                       connections=CONNECTIONS, expect="")
    raw = raw_ed25519(len(tokens[0]))
    per_credential = batch[0] * BATCH
    for label, (rate, cpu, p99) in (("bare FastAPI POST (baseline)", bare),
                                    ("verify, distinct credentials in turn", verify_cold),
                                    ("verify, one credential repeated", verify_repeat)):
        rows.append([label, f"{rate:,.0f}", f"{rate / bare[0]:.2f}×", f"{cpu:.3f}", f"{p99:.1f}"])
    http_ratio, repeat_ratio, batch_ratio = verify_cold[0] / bare[0], verify_repeat[0] / bare[0], per_credential / raw
    return BenchResult(
        key="verify_http",
        title="2. POST /v1/credentials/verify and /verify-batch over HTTP (wrk)",
        tables=[
            Table(["server, request", "req/s", "ratio", "server CPU ms/req", "p99 ms"], rows,
                  f"wrk -t1 -c{CONNECTIONS}, {seconds} s after 2 s warm-up, pinned to CPU {CLIENT_CPUS}; server "
                  f"(`skillproof serve`, rate limits off, SQLite; bare: uvicorn, one worker) pinned to CPU "
                  f"{SERVER_CPUS}; token {len(tokens[0]):,} characters, {len(tokens)} distinct"),
            Table(["what", "credentials/s", "ratio"], [
                ["cryptography Ed25519 verify, one core (baseline)", f"{raw:,.0f}", "1.00×"],
                [f"verify-batch, {BATCH} per request (wrk -c2), server on one core", f"{per_credential:,.0f}",
                 f"{batch_ratio:.2f}×"],
            ], f"batch: {batch[0]:.2f} requests/s, server CPU {batch[1]:.0f} ms per request, p99 {batch[2]:.0f} ms"),
        ],
        targets=[
            Target(f"verify ≥ {TARGET_HTTP}× the bare endpoint (wrk, distinct credentials)", http_ratio >= TARGET_HTTP,
                   f"{http_ratio:.2f}× ({verify_cold[0]:,.0f} vs {bare[0]:,.0f} req/s); one credential repeated "
                   f"{repeat_ratio:.2f}×"),
            Target(f"verify-batch ≥ {TARGET_BATCH}× raw Ed25519 verify per core", batch_ratio >= TARGET_BATCH,
                   f"{batch_ratio:.2f}× ({per_credential:,.0f} vs {raw:,.0f} /s); by server CPU per credential "
                   f"{(1000 / raw) / (batch[1] / BATCH):.2f}× "
                   f"({batch[1] / BATCH * 1000:.0f} µs vs {1e6 / raw:.0f} µs)"),
        ],
        headline=[
            [f"POST /v1/credentials/verify, wrk {CONNECTIONS} conns, distinct credentials",
             f"{verify_cold[0]:,.0f} req/s ({verify_cold[1]:.2f} ms CPU)", f"{bare[0]:,.0f} req/s bare FastAPI",
             f"{http_ratio:.2f}×"],
            ["  same, one credential repeated", f"{verify_repeat[0]:,.0f} req/s", f"{bare[0]:,.0f} req/s",
             f"{repeat_ratio:.2f}×"],
            [f"POST /v1/credentials/verify-batch ({BATCH} per request)", f"{per_credential:,.0f} credentials/s",
             f"{raw:,.0f} /s Ed25519 verify", f"{batch_ratio:.2f}×"],
        ],
        notes=["taskset pins server and wrk to a core each, so the client never takes the server's CPU; the "
               "machine is shared, so runs vary (compare ratios from the same run, not figures across runs).",
               f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."],
    )


def main() -> None:
    main_of(run, __doc__)


if __name__ == "__main__":
    main()
