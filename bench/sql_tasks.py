"""sql_query grading: tasks graded per second per core (correct and hostile answers), a thread pool against a
process pool on all cores, and each bank task's mutation score. `python -m bench.sql_tasks [--quick]`.

One "task graded" is one answer run on every hidden variant of its item (2-3 fixtures built, reference and
answer run on each), which is what a submit costs per sql_query item.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from app.assessments import task_checks
from app.assessments.generators.bank import BANK_DIR, load_bank
from app.grading import performance, pool, sql_task

BOMB = "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r"


def bank_tasks() -> list[dict[str, Any]]:
    return [{key: value for key, value in item.items() if key != "level"}
            for item in load_bank(BANK_DIR)["sql"].items if item["type"] == "sql_query"]


def rate(work: Callable[[], int], seconds: float) -> float:
    """Tasks per second of `work` (which returns how many it graded), repeated for about `seconds`."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        done += work()
    return done / (time.perf_counter() - started)


def pooled(executor: Executor, tasks: list[pool.Task], chunks: int) -> int:
    size = max(1, len(tasks) // chunks)
    parts = [tasks[start:start + size] for start in range(0, len(tasks), size)]
    return sum(len(result) for result in executor.map(pool.run_tasks, parts))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--quick", action="store_true", help="shorter runs")
    seconds = 2.0 if options.parse_args().quick else 6.0
    items = bank_tasks()
    correct = [(item, item["answer"]) for item in items]
    hostile = [(item, BOMB) for item in items]
    cores = os.cpu_count() or 1
    print(f"{len(items)} bank sql_query tasks; SQLite {sql_task.sqlite3.sqlite_version}; {cores} cores")

    for name, tasks in (("reference answers", correct), ("step-limit bombs", hostile)):
        inline = rate(lambda tasks=tasks: len(pool.run_tasks(tasks)), seconds)  # type: ignore[misc]
        print(f"{name}: inline, one core: {inline:,.1f} tasks/s per core")
    workers = cores
    for label, executor in (
        ("thread pool", ThreadPoolExecutor(workers)),
        ("process pool", ProcessPoolExecutor(workers)),
    ):
        with executor:
            executor.submit(pool.run_tasks, correct[:1]).result()  # start the workers
            figure = rate(lambda executor=executor: pooled(executor, correct * 4, workers * 4), seconds)  # type: ignore[misc]
        print(f"reference answers, {label} of {workers}: {figure:,.1f} tasks/s ({figure / workers:,.1f} per core)")

    print("\nmutation score of each task's hidden variants (wrong answers caught / generated):")
    for item in items:
        report = task_checks.task_report(item)
        print(f"  {item['id']:<14} {report.mutation_score:5.3f}  ({report.killed}/{report.mutants})"
              + (f"  problems: {report.problems}" if report.problems else ""))
    graded = performance.run_task(items[0], items[0]["answer"])
    print(f"\nengine recorded in each grade: {graded.engine}")


if __name__ == "__main__":
    main()
