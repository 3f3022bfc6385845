"""Resident set size of one server worker after 10,000 verifications and 1,000 issuances over HTTP."""

from __future__ import annotations

from bench.common import (
    MB,
    Api,
    BenchResult,
    Table,
    Target,
    check_errors,
    issuance_scenario,
    main_of,
    mb,
    ratio,
    run_load,
    skillproof_server,
    sqlite_url,
    verify_scenario,
    workdir,
)

RSS_LIMIT_MB = 150
GROWTH_LIMIT_MB = 5.0  # "not growing": the second half adds less than this (and less than 5%)
GROWTH_LIMIT_PCT = 5.0
VERIFY_CONCURRENCY = 32
ISSUE_CONCURRENCY = 8


def run(quick: bool = False) -> BenchResult:
    verifications, issuances = (2_000, 200) if quick else (10_000, 1_000)
    samples: list[tuple[str, int, int | None]] = []
    with workdir() as directory, skillproof_server(sqlite_url(directory), directory) as server, Api(server) as api:
        samples.append(("right after start (baseline)", server.rss(), server.peak_rss()))
        jws = api.earn_credential()["jwt"]
        verify = verify_scenario(jws)
        issue = issuance_scenario(api, issuances // 4)
        done_v = done_i = 0
        for half in ("first", "second"):
            result = run_load(server, verify, concurrency=VERIFY_CONCURRENCY, count=verifications // 2,
                              max_seconds=90)
            check_errors(result, f"verifications, {half} half")
            done_v += result.completed
            result = run_load(server, issue, concurrency=ISSUE_CONCURRENCY, count=issuances // 2, max_seconds=90)
            check_errors(result, f"issuances, {half} half")
            done_i += result.completed
            samples.append((f"after the {half} half ({done_v:,} verifications, {done_i:,} issuances)",
                            server.rss(), server.peak_rss()))
    if done_v != verifications or done_i != issuances:
        raise RuntimeError(f"only {done_v} verifications and {done_i} issuances finished in time")
    start, first, second = (rss for _, rss, _ in samples)
    peak = samples[-1][2]
    growth = second - first
    growth_pct = 100.0 * growth / first
    rows = [[label, mb(rss), f"{(rss - start) / MB:+.1f}", ratio(rss, start), mb(peak_rss)]
            for label, rss, peak_rss in samples]
    final_ok = second < RSS_LIMIT_MB * MB and (peak is None or peak < RSS_LIMIT_MB * MB)
    return BenchResult(
        key="memory",
        title="4. Memory of one server worker",
        tables=[Table(["when", "RSS MB", "vs start MB", "ratio", "peak RSS MB"], rows,
                      f"`skillproof serve` on SQLite; each half: {verifications // 2:,} POST /v1/credentials/verify "
                      f"({VERIFY_CONCURRENCY} connections) then {issuances // 2:,} whole attempts "
                      f"({ISSUE_CONCURRENCY} connections, "
                      f"{issuances // 4} learners); RSS by psutil, peak = VmHWM")],
        targets=[
            Target(f"RSS < {RSS_LIMIT_MB} MB after the run", final_ok,
                   f"{second / MB:.1f} MB at the end, peak {mb(peak)} MB"),
            Target(f"not growing between halves (< {GROWTH_LIMIT_MB:g} MB and < {GROWTH_LIMIT_PCT:g}%)",
                   growth < GROWTH_LIMIT_MB * MB and growth_pct < GROWTH_LIMIT_PCT,
                   f"{growth / MB:+.1f} MB ({growth_pct:+.1f}%) from the first half to the second"),
        ],
        headline=[
            [f"server RSS after {verifications:,} verifications + {issuances:,} issuances", f"{second / MB:.1f} MB",
             f"{start / MB:.1f} MB at start", ratio(second, start)],
            ["  growth, first half → second half", f"{growth / MB:+.1f} MB", f"{first / MB:.1f} MB after half 1",
             f"{growth_pct:+.1f}%"],
        ],
        notes=["The first half includes one-off growth (thread pool, connection pool, SQLAlchemy statement "
               "caches, allocator arenas); a leak shows as growth in the second half."],
    )


def main() -> None:
    main_of(run, __doc__)


if __name__ == "__main__":
    main()
