"""python_function grading: tasks graded per second per core (the reference answer, and an answer that runs to
its CPU limit), and each bank task's mutation score. `python -m bench.python_tasks [--quick]`.

One "task graded" is one answer run in its own bubblewrap sandbox on every hidden test of its item, which is
what a submit costs per python_function item: the process start (bwrap, namespaces, the interpreter) dominates.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from app.assessments import python_checks
from app.assessments.generators.bank import BANK_DIR, load_bank
from app.grading import performance, python_task


def bank_tasks() -> list[dict[str, Any]]:
    return [{key: value for key, value in item.items() if key != "level"}
            for item in load_bank(BANK_DIR)["python"].items if item["type"] == "python_function"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args()
    print(f"engine: {python_task.engine()}")
    tasks = bank_tasks()
    rounds = 1 if args.quick else 3
    started, done = time.perf_counter(), 0
    for _ in range(rounds):
        for item in tasks:
            assert performance.run_task(item, item["answer"]).share == 1
            done += 1
    elapsed = time.perf_counter() - started
    print(f"reference answers: {done / elapsed:.1f} tasks/s on one core ({elapsed / done * 1000:.0f} ms each)")
    loop = f"def {tasks[0]['function']['name']}(*args):\n    while True:\n        pass\n"
    started = time.perf_counter()
    performance.run_task(tasks[0], loop)
    print(f"an endless loop: {time.perf_counter() - started:.2f} s (the CPU limit, "
          f"{python_task.DEFAULT_RUNNER['cpu_seconds']} s)")
    scores = []
    for item in tasks:
        report = python_checks.task_report(item)
        scores.append(report.mutation_score)
        print(f"{item['id']}: mutation score {report.mutation_score:.3f} ({report.killed}/{report.mutants})")
    print(f"mutation score: min {min(scores):.3f}, mean {sum(scores) / len(scores):.3f}")


if __name__ == "__main__":
    main()
