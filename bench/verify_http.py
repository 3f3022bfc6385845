"""POST /v1/credentials/verify and /verify-batch under wrk, beside a bare FastAPI route and raw signature verify.

Server and wrk are each pinned to one core with taskset (BENCH_SERVER_CPUS, default "1"; BENCH_CLIENT_CPUS,
default "0"): 1 wrk thread, 32 connections, a Lua script posting the bodies. Two servers, one signing with
ES256 (the default) and one with EdDSA. Verify is measured on distinct credentials in turn (more than the
verified-token cache holds, so every request verifies its signature) and on one credential repeated. Batch:
1,000 distinct credentials per request, in credentials per second, beside cryptography's Ed25519 and P-256
verify of a message of the token's size on the server's core.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
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


def raw_verify_rates(message_size: int) -> dict[str, float]:
    """cryptography's Ed25519 and ECDSA P-256/SHA-256 verify per second on the server's core, for a message of
    the token's size: the crypto floor of EdDSA and ES256 tokens."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    message = os.urandom(message_size)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_signature, ed_public = ed_key.sign(message), ed_key.public_key()
    p256 = ec.ECDSA(hashes.SHA256())
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_signature, ec_public = ec_key.sign(message, p256), ec_key.public_key()
    if _pin(SERVER_CPUS):
        os.sched_setaffinity(0, {int(SERVER_CPUS.split(",")[0])})
    timings = time_interleaved({"EdDSA": lambda: ed_public.verify(ed_signature, message),
                                "ES256": lambda: ec_public.verify(ec_signature, message, p256)})
    return {alg: timing.median for alg, timing in timings.items()}


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


Figures = tuple[float, float, float]  # (requests/s, server CPU ms per request, p99 ms)


class Baselines:
    """The bare endpoint and raw signature verify, measured again right before each figure they divide: the
    machine's speed drifts by tens of percent within minutes, so a baseline taken minutes apart skews the ratio.
    Each ratio's baseline is the median of its measurements in this run."""

    def __init__(self, bare_server: Server, directory: Path, seconds: int):
        self.server, self.directory, self.seconds = bare_server, directory, seconds
        self.bare_runs: list[Figures] = []
        self.raw_runs: list[dict[str, float]] = []

    def measure_bare(self, bodies: list[str]) -> None:
        self.bare_runs.append(wrk(self.server, "/v1/credentials/verify", bodies, self.directory,
                                  seconds=self.seconds, connections=CONNECTIONS, expect=""))

    def measure_raw(self, message_size: int) -> None:
        self.raw_runs.append(raw_verify_rates(message_size))

    def bare(self) -> Figures:
        by_rate = sorted(self.bare_runs)
        return by_rate[len(by_rate) // 2]

    def raw(self) -> dict[str, float]:
        return {alg: statistics.median(run[alg] for run in self.raw_runs) for alg in ("EdDSA", "ES256")}


def _skillproof(alg: str, directory: Path, seconds: int, baselines: Baselines, *, repeat: bool
                ) -> tuple[list[str], dict[str, Figures]]:
    """A `skillproof serve` signing with `alg` on its own SQLite database: its tokens and wrk figures for verify
    (distinct credentials; one repeated if `repeat`) and verify-batch, each right after its baseline."""
    home = directory / alg
    home.mkdir()
    env = {**skillproof_env(sqlite_url(home), home), "SKILLPROOF_SIGNING_ALG": alg}
    subprocess.run([SKILLPROOF, "migrate"], env={**os.environ, **env}, check=True, capture_output=True)
    port = free_port()
    figures: dict[str, Figures] = {}
    with _server(f"skillproof-{alg}", [SKILLPROOF, "serve", "--host", "127.0.0.1", "--port", str(port)], home, env,
                 port) as server:
        server.start()
        with Api(server) as api:
            tokens = _earn(api, DISTINCT)  # even when quick: fewer would let repeats hit the caches
        single = [json.dumps({"verifiableCredential": token}) for token in tokens]
        baselines.measure_bare(single)
        figures["verify"] = wrk(server, "/v1/credentials/verify", single, home, seconds=seconds,
                                connections=CONNECTIONS, expect='"verified":true')
        if repeat:
            figures["repeat"] = wrk(server, "/v1/credentials/verify", single[:1], home, seconds=seconds,
                                    connections=CONNECTIONS, expect='"verified":true')
        baselines.measure_bare(single)
        batches = [json.dumps({"verifiableCredentials": [tokens[(start + i) % len(tokens)] for i in range(BATCH)]})
                   for start in range(0, len(tokens), 97)]
        baselines.measure_raw(len(tokens[0]))
        figures["batch"] = wrk(server, "/v1/credentials/verify-batch", batches, home, seconds=seconds, connections=2,
                               expect='"results":[{"verified":true')
        baselines.measure_raw(len(tokens[0]))
    return tokens, figures


def run(quick: bool = False) -> BenchResult:
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is needed (Debian: apt-get install -y wrk)")
    seconds = 3 if quick else 10
    with workdir() as directory:
        port = free_port()
        # The bare server waits idle on the same core while the others are measured.
        with _server("bare", [PYTHON, "-m", "uvicorn", "bench.bare_app:app", "--host", "127.0.0.1", "--port",
                              str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
                     directory, {}, port) as bare_server:
            bare_server.start(ready_path="/")
            baselines = Baselines(bare_server, directory, seconds)
            tokens, es256 = _skillproof("ES256", directory, seconds, baselines, repeat=True)  # the default alg
            ed_tokens, eddsa = _skillproof("EdDSA", directory, seconds, baselines, repeat=False)
    bare, raw = baselines.bare(), baselines.raw()
    rows = [[label, f"{rate:,.0f}", f"{rate / bare[0]:.2f}×", f"{cpu:.3f}", f"{p99:.1f}"]
            for label, (rate, cpu, p99) in (("bare FastAPI POST (baseline)", bare),
                                            ("verify ES256 (default), distinct credentials in turn", es256["verify"]),
                                            ("verify ES256 (default), one credential repeated", es256["repeat"]),
                                            ("verify EdDSA, distinct credentials in turn", eddsa["verify"]))]
    per_credential = {"ES256": es256["batch"][0] * BATCH, "EdDSA": eddsa["batch"][0] * BATCH}
    cpu_per_credential_us = {"ES256": es256["batch"][1] / BATCH * 1000, "EdDSA": eddsa["batch"][1] / BATCH * 1000}
    batch_rows = [["cryptography Ed25519 verify, one core (baseline)", f"{raw['EdDSA']:,.0f}", "1.00×", "", ""],
                  ["cryptography ECDSA P-256 verify, one core", f"{raw['ES256']:,.0f}",
                   f"{raw['ES256'] / raw['EdDSA']:.2f}×", "1.00×", ""]]
    for alg, figures in (("EdDSA", eddsa), ("ES256", es256)):
        batch_rows.append([f"verify-batch of {alg} credentials, {BATCH} per request (wrk -c2)",
                           f"{per_credential[alg]:,.0f}", f"{per_credential[alg] / raw['EdDSA']:.2f}×",
                           f"{per_credential[alg] / raw['ES256']:.2f}×",
                           f"{figures['batch'][0]:.2f} req/s, {cpu_per_credential_us[alg]:.0f} µs CPU/credential"])
    http_ratio = es256["verify"][0] / bare[0]
    repeat_ratio = es256["repeat"][0] / bare[0]
    eddsa_http_ratio = eddsa["verify"][0] / bare[0]
    batch_ratio = per_credential["EdDSA"] / raw["EdDSA"]
    es256_batch_ratio = per_credential["ES256"] / raw["ES256"]
    return BenchResult(
        key="verify_http",
        title="2. POST /v1/credentials/verify and /verify-batch over HTTP (wrk)",
        tables=[
            Table(["server, request", "req/s", "ratio", "server CPU ms/req", "p99 ms"], rows,
                  f"wrk -t1 -c{CONNECTIONS}, {seconds} s after 2 s warm-up, pinned to CPU {CLIENT_CPUS}; server "
                  f"(`skillproof serve`, rate limits off, SQLite, status read on every call; bare: uvicorn, one "
                  f"worker, measured before and after each server's verify figures: median of the four) pinned to "
                  f"CPU {SERVER_CPUS}; token {len(tokens[0]):,} characters (EdDSA "
                  f"{len(ed_tokens[0]):,}), {len(tokens)} distinct"),
            Table(["what", "credentials/s", "vs Ed25519", "vs P-256", "detail"], batch_rows,
                  "batch: 1,000 distinct credentials per request, every one's signature, claims, issuer and status "
                  "checked; raw verify timed in this process pinned to the server's core, before and after each "
                  "batch figure (median of the four)"),
        ],
        targets=[
            Target(f"verify ≥ {TARGET_HTTP}× the bare endpoint (wrk, distinct credentials)", http_ratio >= TARGET_HTTP,
                   f"{http_ratio:.2f}× ({es256['verify'][0]:,.0f} vs {bare[0]:,.0f} req/s); one credential "
                   f"repeated {repeat_ratio:.2f}×; EdDSA credentials {eddsa_http_ratio:.2f}×"),
            Target(f"verify-batch ≥ {TARGET_BATCH}× raw Ed25519 verify per core (Ed25519-signed credentials)",
                   batch_ratio >= TARGET_BATCH,
                   f"{batch_ratio:.2f}× ({per_credential['EdDSA']:,.0f} vs {raw['EdDSA']:,.0f} /s); ES256 "
                   f"(default) credentials {es256_batch_ratio:.2f}× raw P-256 verify "
                   f"({per_credential['ES256']:,.0f} vs {raw['ES256']:,.0f} /s)"),
        ],
        headline=[
            [f"POST /v1/credentials/verify, wrk {CONNECTIONS} conns, distinct ES256 credentials",
             f"{es256['verify'][0]:,.0f} req/s ({es256['verify'][1]:.2f} ms CPU)",
             f"{bare[0]:,.0f} req/s bare FastAPI", f"{http_ratio:.2f}×"],
            ["  same, one credential repeated", f"{es256['repeat'][0]:,.0f} req/s", f"{bare[0]:,.0f} req/s",
             f"{repeat_ratio:.2f}×"],
            [f"POST /v1/credentials/verify-batch ({BATCH} EdDSA per request)",
             f"{per_credential['EdDSA']:,.0f} credentials/s", f"{raw['EdDSA']:,.0f} /s Ed25519 verify",
             f"{batch_ratio:.2f}×"],
            [f"  same, {BATCH} ES256 (default) per request", f"{per_credential['ES256']:,.0f} credentials/s",
             f"{raw['ES256']:,.0f} /s P-256 verify", f"{es256_batch_ratio:.2f}×"],
        ],
        notes=["taskset pins server and wrk to a core each, so the client never takes the server's CPU; the "
               "machine is shared, so runs vary (compare ratios from the same run, not figures across runs).",
               f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."],
    )


def main() -> None:
    main_of(run, __doc__)


if __name__ == "__main__":
    main()
