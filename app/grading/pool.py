"""The grading worker pool: performance tasks run here, off the request path, with a bounded queue.

A submit with performance tasks (sql_query and python_function items; each of the latter starts its own bubblewrap
sandbox from the worker, at the worker's lower priority) has them run in a worker process before it takes its database
session (app/assessments/pregrade.py); the grade itself stays the pure function in rubric.py, handed the runs.
Processes rather than threads (bench/sql_tasks.py has the figures): a worker can take a process-wide SQLite heap
limit and an address-space limit without touching the server's own SQLite connections, runs at a lower CPU
priority than the server so verify and status requests keep their latency under a burst of submissions, and
its Python callbacks (progress handler, clock functions, row conversion) hold no GIL of the server's.
At most `workers + queue` submissions are in the pool at once; one more gets 503 busy with Retry-After.
`workers = 0` runs the tasks in a thread of the server instead (tests, or a machine with one core).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import sqlite3
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from app.errors import Busy
from app.grading import performance
from app.grading.outcomes import TaskResult

logger = logging.getLogger("skillproof")

WORKER_HEAP_BYTES = 256 * 1024 * 1024  # SQLite's hard heap limit in a worker (process-wide)
WORKER_ADDRESS_SPACE_BYTES = 1024 * 1024 * 1024
WORKER_NICE = 10

Task = tuple[Mapping[str, Any], str]  # (frozen item, answer)


def _init_worker() -> None:
    """Limits of a worker process: lower priority, bounded memory, a SQLite heap cap."""
    os.nice(WORKER_NICE)
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE_BYTES, WORKER_ADDRESS_SPACE_BYTES))
    connection = sqlite3.connect(":memory:")
    connection.execute(f"PRAGMA hard_heap_limit={WORKER_HEAP_BYTES}")
    connection.close()


def run_tasks(tasks: Sequence[Task]) -> dict[str, TaskResult]:
    """Run each task (the pure grading function); results keyed by performance.task_key."""
    return {performance.task_key(item, answer): performance.run_task(item, answer) for item, answer in tasks}


class GradingPool:
    """A bounded pool of grading workers; the executor starts on first use (most apps never grade a task)."""

    def __init__(self, workers: int, queue: int):
        self.workers = workers
        self.capacity = max(workers, 1) + queue
        self.in_flight = 0
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        if self._executor is None:
            if self.workers == 0:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grading")
            else:
                # forkserver: a fresh process to fork workers from, never a fork of the threaded server.
                context = multiprocessing.get_context("forkserver")
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker)
        return self._executor

    async def run(self, tasks: Sequence[Task]) -> dict[str, TaskResult]:
        """Run one submission's tasks in the pool; Busy when the pool already holds its capacity."""
        if not tasks:
            return {}
        if self.in_flight >= self.capacity:  # checked and counted in the event loop: no lock needed
            raise Busy("Grading is busy with other submissions; retry after a short wait.")
        self.in_flight += 1
        try:
            return await asyncio.wrap_future(self._pool().submit(run_tasks, list(tasks)))
        except BrokenProcessPool:
            logger.error("a grading worker died; the pool restarts")
            self.shutdown()
            raise Busy("A grading worker restarted; retry after a short wait.") from None
        finally:
            self.in_flight -= 1

    def shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
