"""The RDFC-1.0 hashing of Data Integrity proofs, in worker processes off the server's GIL.

pyld's safe-mode expansion and RDFC-1.0 canonicalisation are pure Python: ~20 ms of CPU per credential on a
2-core machine, more than the rest of a whole attempt. Run in the server's request threads, they held the GIL
that the event loop needs to answer anything else: during a class of 500 submitting at once on PostgreSQL,
`/health` took up to 1.4 s. Here they run in forkserver children at a lower CPU priority, while the request
thread waits for the 64-byte hash with the GIL released; the signature itself stays in the server process,
so the private key never leaves it. The hash is a pure function of (document, proof configuration): where it
runs changes no byte of any proof.

One pool per process, started by the app's lifespan (start, stop) and shared by every app of the process.
Without a started pool (CLIs, in-process tests that set 0 workers) the hash is computed in the calling thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from app.credentials import data_integrity

logger = logging.getLogger("skillproof")

WORKER_NICE = 10  # below the server, so its event loop and request threads come first on a busy core

_lock = threading.Lock()
_executor: ProcessPoolExecutor | None = None
_users = 0
_workers = 0


def _init_worker() -> None:
    os.nice(WORKER_NICE)


def default_workers() -> int:
    """One worker per core, at most 4 (a process's share of a bigger machine is its replicas' business)."""
    return max(1, min(os.cpu_count() or 1, 4))


def _new_executor(workers: int) -> ProcessPoolExecutor:
    # forkserver: workers forked from a fresh process that has imported pyld and the bundled contexts, never
    # from the threaded server (app/grading/pool.py uses the same forkserver).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app.credentials.jsonld", "app.credentials.data_integrity"])
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)


def start(workers: int) -> None:
    """Start the process's pool, or count one more user of it (workers 0: none, hashes stay in the caller)."""
    global _executor, _users, _workers
    if workers <= 0:
        return
    with _lock:
        if _executor is None:
            _executor, _workers = _new_executor(workers), workers
        _users += 1


def stop(workers: int) -> None:
    """Undo one start(workers); the last user's stop shuts the pool down."""
    global _executor, _users
    if workers <= 0:
        return
    with _lock:
        _users -= 1
        executor, _executor = (_executor, None) if _users == 0 else (None, _executor)
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


def hash_data(
    document: Mapping[str, Any], proof_config: Mapping[str, Any], extra_contexts: Mapping[str, Any] | None = None
) -> bytes:
    """data_integrity.hash_data, in a worker when the pool is started; its errors (InvalidDocument) pass through."""
    executor = _executor
    if executor is None:
        return data_integrity.hash_data(document, proof_config, extra_contexts)
    try:
        return executor.submit(data_integrity.hash_data, document, proof_config, extra_contexts).result()
    except BrokenProcessPool:  # a worker died (OOM, killed): this hash here, and a new pool for the next ones
        logger.error("a canonicalisation worker died; the pool restarts")
        _replace_broken(executor)
    except RuntimeError:  # the pool is shutting down (SIGTERM while a request finishes)
        pass
    return data_integrity.hash_data(document, proof_config, extra_contexts)


def _replace_broken(broken: ProcessPoolExecutor) -> None:
    global _executor
    with _lock:
        if _executor is not broken:  # another thread replaced it already, or it was stopped
            return
        _executor = _new_executor(_workers)
    broken.shutdown(wait=False, cancel_futures=True)
