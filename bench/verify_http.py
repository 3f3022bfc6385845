"""POST /v1/credentials/verify over HTTP (32 connections) vs a bare FastAPI POST route served the same way."""

from __future__ import annotations

from typing import Any

from bench.common import (
    LOAD_HEADERS,
    Api,
    BenchResult,
    LoadResult,
    Server,
    Table,
    Target,
    bare_server,
    check_errors,
    load_cells,
    main_of,
    ratio,
    run_load,
    skillproof_server,
    sqlite_url,
    verify_scenario,
    workdir,
)

TARGET = 0.33
CONCURRENCY = 32
REAL, QUIET, BARE = "Skillproof (`skillproof serve`)", "Skillproof, uvicorn --no-access-log", "bare FastAPI (baseline)"
ENGINES = ("httpx", "raw")


def run(quick: bool = False) -> BenchResult:
    # (warm-up, measured) seconds: httpx is the brief's generator; raw is the cross-check (see bench.loadgen).
    windows = {"httpx": (1.0, 3.0), "raw": (1.0, 2.0)} if quick else {"httpx": (2.0, 10.0), "raw": (1.0, 5.0)}
    results: dict[tuple[str, str], LoadResult] = {}

    def measure(label: str, server: Server, scenario: dict[str, Any]) -> None:
        for engine in ENGINES:
            warmup, duration = windows[engine]
            result = run_load(server, scenario, concurrency=CONCURRENCY, warmup=warmup, duration=duration,
                              engine=engine)
            check_errors(result, f"{label} / {engine}")
            results[(label, engine)] = result

    with workdir() as directory:
        database = sqlite_url(directory)
        with skillproof_server(database, directory) as server, Api(server) as api:
            jws = api.earn_credential()["jwt"]
            verdict = api.verify(jws)
            if not verdict["verified"]:
                raise RuntimeError(f"the earned credential does not verify: {verdict}")
            scenario = verify_scenario(jws)
            measure(REAL, server, scenario)
        with skillproof_server(database, directory, access_log=False) as server:
            measure(QUIET, server, scenario)
        with bare_server(directory) as server:
            measure(BARE, server, scenario)

    rows = []
    for engine in ENGINES:
        bare = results[(BARE, engine)]
        for label in (REAL, QUIET, BARE):
            result = results[(label, engine)]
            cells = load_cells(result)
            rows.append([engine, label, cells[0], ratio(result.rate, bare.rate), *cells[1:],
                         ratio(bare.server_ms_per_op, result.server_ms_per_op)])
    real, bare = results[(REAL, "httpx")], results[(BARE, "httpx")]
    achieved = real.rate / bare.rate
    raw_ratio = results[(REAL, "raw")].rate / results[(BARE, "raw")].rate
    cpu_ratio = bare.server_ms_per_op / real.server_ms_per_op
    windows_text = "; ".join(f"{engine}: {w:g} s warm-up, {d:g} s measured" for engine, (w, d) in windows.items())
    return BenchResult(
        key="verify_http",
        title="2. POST /v1/credentials/verify over HTTP",
        tables=[Table(["client", "server", "req/s", "ratio", *LOAD_HEADERS, "CPU-cost ratio"], rows,
                      f"load generator in its own process, {CONCURRENCY} concurrent connections ({windows_text}); "
                      "uvicorn, one worker, 127.0.0.1, SQLite; the same request body to every server")],
        targets=[Target(
            f"verify ≥ {TARGET}× the bare endpoint (httpx client, as specified)", achieved >= TARGET,
            f"{achieved:.2f}× ({real.rate:,.0f} vs {bare.rate:,.0f} req/s); with the raw client {raw_ratio:.2f}×; "
            f"by server CPU per request {cpu_ratio:.2f}×",
        )],
        headline=[
            [f"POST /v1/credentials/verify, {CONCURRENCY} conns, httpx", f"{real.rate:,.0f} req/s "
             f"(p50 {real.p50_ms:.0f} ms, p99 {real.p99_ms:.0f} ms)", f"{bare.rate:,.0f} req/s bare FastAPI",
             f"{achieved:.2f}×"],
            ["  same, raw client", f"{results[(REAL, 'raw')].rate:,.0f} req/s",
             f"{results[(BARE, 'raw')].rate:,.0f} req/s bare FastAPI", f"{raw_ratio:.2f}×"],
            ["  same, server CPU per request", f"{real.server_ms_per_op:.2f} ms", f"{bare.server_ms_per_op:.2f} ms",
             f"{cpu_ratio:.2f}×"],
        ],
        notes=[
            "The load generator shares the 2 cores with the server. 'client CPU' near 100% means the client, "
            "not the server, sets the rate: then the req/s ratio flatters the slower server. 'server CPU ms/op' "
            "does not depend on the client; 'CPU-cost ratio' = bare ms/op ÷ this server's ms/op.",
        ],
    )


def main() -> None:
    main_of(run, __doc__)


if __name__ == "__main__":
    main()
