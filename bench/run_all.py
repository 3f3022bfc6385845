"""`make bench`: every benchmark in turn, a summary table, and bench/RESULTS.md (hand-written notes kept)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import attempts_load, issuance, memory, verify_http, verify_inprocess
from bench.common import BenchResult, machine, markdown_table, parser, text_table

BENCHMARKS: dict[str, Callable[[bool], BenchResult]] = {
    "verify_inprocess": verify_inprocess.run,
    "verify_http": verify_http.run,
    "issuance": issuance.run,
    "memory": memory.run,
    "attempts_load": attempts_load.run,
}
RESULTS = Path(__file__).with_name("RESULTS.md")
NOTES_MARK = "<!-- Everything below this line is written by hand and kept when bench.run_all rewrites this file. -->"
SUMMARY_HEADERS = ["benchmark", "figure", "baseline (same run)", "ratio"]
TARGET_HEADERS = ["target", "verdict", "measured"]


def summary_rows(results: list[BenchResult]) -> tuple[list[list[str]], list[list[str]]]:
    figures = [row for result in results for row in result.headline]
    targets = [[target.description, "met" if target.met else "NOT met", target.detail]
               for result in results for target in result.targets]
    return figures, targets


def write_results(results: list[BenchResult], facts: dict[str, str], failures: list[str]) -> None:
    notes = ""
    if RESULTS.exists():
        text = RESULTS.read_text()
        if NOTES_MARK in text:
            notes = text.split(NOTES_MARK, 1)[1].lstrip("\n")
    figures, targets = summary_rows(results)
    parts = [
        "# Skillproof benchmarks",
        "",
        f"Measured {facts['date']} by `make bench` (`python -m bench.run_all`); each benchmark also runs alone "
        "(`python -m bench.verify_inprocess`, `bench.verify_http`, `bench.issuance`, `bench.memory`, "
        "`bench.attempts_load`). "
        "The tables above the hand-written notes are rewritten on every full run.",
        "",
        "## Machine",
        "",
        *[f"- {name}: {value}" for name, value in facts.items()],
        "",
        "## Summary",
        "",
        markdown_table(SUMMARY_HEADERS, figures),
        "",
        markdown_table(TARGET_HEADERS, targets),
        "",
    ]
    if failures:
        parts += ["Benchmarks that failed in this run: " + ", ".join(failures), ""]
    parts += [result.markdown() for result in results]
    parts += [NOTES_MARK, "", notes.rstrip() + "\n" if notes.strip() else ""]
    RESULTS.write_text("\n".join(parts))


def main() -> int:
    argp = parser(__doc__)
    argp.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run just these benchmarks")
    argp.add_argument("--no-write", action="store_true", help="do not rewrite bench/RESULTS.md")
    args = argp.parse_args()
    facts = machine()
    print("\n".join(f"{name}: {value}" for name, value in facts.items()), end="\n\n", flush=True)
    results: list[BenchResult] = []
    failures: list[str] = []
    started = time.perf_counter()
    for key, run in BENCHMARKS.items():
        if args.only and key not in args.only:
            continue
        began = time.perf_counter()
        try:
            result = run(args.quick)
        except Exception:
            failures.append(key)
            print(f"== {key} FAILED ==\n{traceback.format_exc()}", flush=True)
            continue
        result.seconds = time.perf_counter() - began
        results.append(result)
        print(result.text(), f"({result.seconds:.0f} s)", sep="\n", end="\n\n", flush=True)
    figures, targets = summary_rows(results)
    print("== Summary ==")
    print(text_table(SUMMARY_HEADERS, figures), end="\n\n")
    print(text_table(TARGET_HEADERS, targets))
    if failures:
        print(f"FAILED: {', '.join(failures)}")
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.quick or args.only or args.no_write:
        print("(bench/RESULTS.md not rewritten: only a full run writes it)")
    else:
        write_results(results, facts, failures)
        print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
