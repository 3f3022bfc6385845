"""Grading a `python_function` item by running it: a pure function of (frozen item, answer) -> TaskResult.

The learner's answer is Python source defining the asked function. It runs once per submission, in a fresh
process, against the item's hidden tests (each: the call's arguments, or an expression calling the function,
with a weight); the expected values never enter that process: the sandbox reports what each call returned (as
JSON) and this module compares it with the frozen expected value. Share = weights of the tests passed / all.

Threat model. The answer is hostile code. It may try to: read files (the signing keys, the database, /etc),
write files, reach the network, exhaust CPU, memory, processes, disk or file descriptors, outlive the grading,
print huge output, or forge its results. Defences, outermost first:
- bubblewrap (Debian `bubblewrap`, `bwrap`, not setuid): new user, pid, network, ipc, uts and cgroup namespaces
  (`--unshare-all`: no network but an unconfigured loopback); a new root holding only read-only binds of /usr
  (the interpreter and its standard library), a fresh /proc and minimal /dev, and a size-capped tmpfs /tmp, the
  only writable place: nothing of /work, /etc, /root, /home or the keys directory exists inside;
  `--die-with-parent`, `--new-session` (no TIOCSTI into our terminal), environment cleared;
- run as an unprivileged uid of its own (one per run, no passwd entry) so that RLIMIT_NPROC is
  enforced (the kernel does not enforce it for root) and the answer's processes count against no one else's;
  a server that does not run as root cannot switch uid and runs the sandbox as itself: RLIMIT_NPROC then counts
  the server's own processes and threads too (the pid namespace still takes every process at the end);
- rlimits set by `prlimit` before exec, inherited by everything inside: CPU seconds, address space, processes,
  file size, open files, no core dumps; and a wall-clock timeout that kills the process group; the pid namespace
  takes every process the answer started with it;
- `python3 -P -s -S`: isolated mode (-I) but for -E, because -E would ignore PYTHONHASHSEED; bwrap clears the
  environment, which holds only PYTHONHASHSEED=0, TZ=UTC and LANG, so nothing else of -E's is lost (no user
  site, no site-packages, no script or current directory on the path); the harness (HARNESS below) seeds
  `random` before every test and, as defence in depth only (bypassable by design, the boundary is the
  sandbox), refuses imports of ctypes, socket, subprocess and multiprocessing and removes os.system, fork,
  exec, spawn and kill;
- results travel on a pipe of our own (its fd number passed as argv[1]), read up to a cap; the learner's stdout
  and stderr go to /dev/null.
  The answer shares the harness's process, so it can write to that pipe too; the harness writes its lines in a
  fixed order, each after the answer is loaded, and any line out of that order fails every test of the run as
  "forged". What is left to a forger is what its function could do anyway: the expected values are never
  inside (they are compared here), and a function can see its own arguments. An `expr` test is therefore only
  as strong as its expected value is hard to guess (not a bare true): the checks' constant answer catches a
  test set whose expected values are all one value.
Not covered: kernel exploits (bubblewrap shares the host kernel; run grading workers in a VM or container for
defence in depth), side channels, and CPU-time limits near the boundary (a run that needs about the CPU limit
may pass on a fast machine and not on a slow one; the checks require the reference to run far below it).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from fractions import Fraction
from functools import cache
from typing import Any

from app.grading.outcomes import TaskResult, VariantResult

MAX_SOURCE_CHARS = 10_000
MAX_TESTS = 30
MAX_RESULT_BYTES = 1_000_000  # of the results pipe: the rest is cut and its tests fail
MAX_VALUE_CHARS = 20_000  # of one returned value, as JSON
DEFAULT_RUNNER: dict[str, Any] = {"cpu_seconds": 2, "wall_seconds": 10, "memory_mb": 256}
MAX_RUNNER = {"cpu_seconds": 10, "wall_seconds": 30, "memory_mb": 1024}
PROCESSES = 16
FILE_BYTES = 1_000_000
OPEN_FILES = 64
TMP_BYTES = 8 * 1024 * 1024
# One uid per run: from the worker's pid and a counter, so that no two sandboxes (concurrent, or one just ended,
# whose processes the kernel releases a moment after they are reaped) share an RLIMIT_NPROC count.
SANDBOX_UID_BASE = 200_000
_runs = itertools.count()
PYTHON = os.environ.get("SKILLPROOF_SANDBOX_PYTHON", "/usr/bin/python3")
FLOAT_TOLERANCE = 1e-9
DENIED_MODULES = ("ctypes", "_ctypes", "socket", "_socket", "subprocess", "_posixsubprocess", "multiprocessing",
                  "_multiprocessing", "pty", "resource", "signal")

# Runs inside the sandbox. Reads {"programs": [source, ...], "function": name, "tests": [...]} on stdin, writes
# one JSON line per (program, test) to the fd named by argv[1], then {"done": true}. Several programs: the
# authoring checks run the reference and its mutants (trusted code) in one process; a submission is one program.
HARNESS = r"""
import builtins, json, os, random, sys
out = os.fdopen(int(sys.argv[1]), "w")
job = json.loads(sys.stdin.read())
sys.stdin.close()
DENIED = set(__DENIED__)
_import = builtins.__import__
def guarded(name, globals=None, locals=None, fromlist=(), level=0):
    if name.split(".")[0] in DENIED:
        raise ImportError("module %r is not available in the grading sandbox" % name)
    return _import(name, globals, locals, fromlist, level)
builtins.__import__ = guarded
for module in (os, sys.modules.get("posix")):
    for attr in ("system", "fork", "forkpty", "popen", "execv", "execve", "execvp", "execvpe", "execl", "execle",
                 "execlp", "execlpe", "spawnv", "spawnve", "spawnl", "spawnle", "posix_spawn", "posix_spawnp",
                 "kill", "killpg"):
        if module is not None and hasattr(module, attr):
            delattr(module, attr)
write, dumps = out.write, json.dumps
def report(line):
    write(dumps(line) + "\n")
    out.flush()
for p, source in enumerate(job["programs"]):
    namespace = {"__name__": "answer", "__builtins__": builtins}
    try:
        exec(compile(source, "<answer>", "exec"), namespace)
        function = namespace.get(job["function"])
        if not callable(function):
            raise NameError("the answer does not define %s()" % job["function"])
    except BaseException as exc:
        for t in range(len(job["tests"])):
            report({"p": p, "t": t, "error": type(exc).__name__})
        continue
    for t, test in enumerate(job["tests"]):
        random.seed(0)
        try:
            if "expr" in test:
                value = eval(test["expr"], {**namespace, job["function"]: function})
            else:
                value = function(*json.loads(test["args"]))
            text = dumps(value, allow_nan=False)
            if len(text) > __MAX_VALUE__:
                report({"p": p, "t": t, "error": "too_large"})
            else:
                write('{"p": %d, "t": %d, "value": %s}\n' % (p, t, text))
                out.flush()
        except BaseException as exc:
            report({"p": p, "t": t, "error": type(exc).__name__})
report({"done": True})
""".replace("__DENIED__", repr(DENIED_MODULES)).replace("__MAX_VALUE__", str(MAX_VALUE_CHARS))


class SandboxUnavailable(Exception):
    """bubblewrap (or the sandbox's interpreter) is missing: python_function items cannot be run here."""


def runner_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item's frozen runner settings (cpu_seconds, wall_seconds, memory_mb)."""
    return {**DEFAULT_RUNNER, **(item.get("runner") or {})}


@cache
def engine() -> str:
    """What runs the answers, with versions (results may differ between Python versions)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or not os.path.exists(PYTHON):
        raise SandboxUnavailable("bubblewrap (bwrap) or the sandbox's python3 is not installed")
    python = subprocess.run(  # noqa: S603 - the configured interpreter, a fixed script
        [PYTHON, "-I", "-S", "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()
    wrap = subprocess.run(  # noqa: S603 - found on PATH, fixed arguments
        [bwrap, "--version"], capture_output=True, text=True, check=True, timeout=30,
    ).stdout
    return f"python {python} ({wrap.strip()})"


def available() -> bool:
    """Whether python_function items can be run on this machine."""
    try:
        engine()
    except (SandboxUnavailable, OSError, subprocess.SubprocessError):
        return False
    return True


def _command(runner: Mapping[str, Any]) -> list[str]:
    memory = int(runner["memory_mb"]) * 1024 * 1024
    cpu = int(runner["cpu_seconds"])
    return [
        "prlimit", f"--cpu={cpu}:{cpu + 1}", f"--as={memory}", f"--nproc={PROCESSES}", f"--fsize={FILE_BYTES}",
        f"--nofile={OPEN_FILES}", "--core=0", "--",
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
        "--size", str(TMP_BYTES), "--tmpfs", "/tmp", "--chdir", "/tmp",  # noqa: S108 - the sandbox's own tmpfs
        "--setenv", "PYTHONHASHSEED", "0", "--setenv", "TZ", "UTC", "--setenv", "LANG", "C.UTF-8",
        PYTHON, "-P", "-s", "-S", "-c", HARNESS,
    ]


def _wire_test(test: Mapping[str, Any]) -> dict[str, str]:
    """What of a hidden test enters the sandbox: its call, never its expected value."""
    return {"expr": test["expr"]} if "expr" in test else {"args": json.dumps(test["args"])}


def run_programs(
    programs: Sequence[str], function: str, tests: Sequence[Mapping[str, Any]], runner: Mapping[str, Any]
) -> list[list[dict[str, Any]]]:
    """Run each program's `function` on every test in one sandboxed process: per program, per test, either
    {"value": ...} or {"error": name}; tests with no report (killed, cut) get the reason it stopped."""
    engine()
    job = json.dumps({"programs": list(programs), "function": function, "tests": [_wire_test(t) for t in tests]})
    read_end, write_end = os.pipe()
    uid = SANDBOX_UID_BASE + (os.getpid() % 10_000) * 1000 + next(_runs) % 1000
    # Only root may switch uid; a server run as another user runs its sandboxes as itself (see the docstring).
    identity: dict[str, Any] = {"user": uid, "group": uid, "extra_groups": []} if os.geteuid() == 0 else {}
    with tempfile.TemporaryFile() as stdin:
        stdin.write(job.encode())
        stdin.seek(0)
        process = subprocess.Popen(  # noqa: S603 - a fixed command; the answer is data on its stdin
            [*_command(runner), str(write_end)], stdin=stdin, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, pass_fds=(write_end,), start_new_session=True, cwd="/",
            env={"PATH": "/usr/bin:/bin"}, **identity,
        )
    os.close(write_end)
    data, stop = _read(read_end, process, float(runner["wall_seconds"]))
    results: list[list[dict[str, Any]]] = [[{"error": stop} for _ in tests] for _ in programs]
    expected = ((p, t) for p in range(len(programs)) for t in range(len(tests)))
    for line in data.split(b"\n")[:-1]:  # complete lines only: a run cut short may end mid-line
        try:
            report = json.loads(line)
        except ValueError:
            report = None
        if isinstance(report, dict) and report.get("done") is True:
            break
        at = (report.get("p"), report.get("t")) if isinstance(report, dict) else None
        if at != next(expected, None):
            # The harness writes (0, 0), (0, 1), ... in order, after the answer is loaded: a line out of that
            # order (a repeat, a gap, anything else) was written by the answer. Every test of the run fails.
            return [[{"error": "forged"} for _ in tests] for _ in programs]
        if isinstance(report, dict):
            results[report["p"]][report["t"]] = report
    return results


def _read(fd: int, process: subprocess.Popen[bytes], wall: float) -> tuple[bytes, str]:
    """The results pipe's bytes up to the cap, and why the run stopped if it did not finish."""
    import selectors
    import time

    chunks: list[bytes] = []
    size, stop = 0, "no_result"
    deadline = time.monotonic() + wall
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                stop = "time_limit"
                break
            if not selector.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESULT_BYTES:
                stop = "too_large"
                break
    os.close(fd)
    if stop == "no_result":  # the pipe closed: the run ended, or is ending; give it until the deadline
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            stop = "time_limit"
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
    code = process.wait()
    if stop == "no_result" and code in (-9, 137, -24, 152):  # SIGKILL / SIGXCPU: the CPU limit
        stop = "time_limit"
    elif stop == "no_result" and code != 0:
        stop = "crashed"
    return b"".join(chunks)[:MAX_RESULT_BYTES], stop


def same_value(expected: Any, got: Any) -> bool:
    """JSON values equal, types and all (True is not 1, 1.0 equals 1), floats within a relative 1e-9."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, int | float) and isinstance(got, int | float):
        return math.isclose(expected, got, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)
    if isinstance(expected, list) and isinstance(got, list):
        return len(expected) == len(got) and all(same_value(e, g) for e, g in zip(expected, got, strict=True))
    if isinstance(expected, dict) and isinstance(got, dict):
        return expected.keys() == got.keys() and all(same_value(expected[k], got[k]) for k in expected)
    return type(expected) is type(got) and expected == got


def verdicts(tests: Sequence[Mapping[str, Any]], reports: Sequence[Mapping[str, Any]]) -> tuple[VariantResult, ...]:
    """Each test passed or why not, from one program's reports."""
    results = []
    for test, report in zip(tests, reports, strict=True):
        if "value" in report:
            passed = same_value(test["expected"], report["value"])
            results.append(VariantResult(passed=passed, reason="ok" if passed else "wrong_result"))
        else:
            results.append(VariantResult(passed=False, reason=str(report.get("error", "no_result"))[:60]))
    return tuple(results)


def share_of(tests: Sequence[Mapping[str, Any]], results: Sequence[VariantResult]) -> Fraction:
    """Weights of the tests passed over all the weights."""
    total = sum(int(test.get("weight", 1)) for test in tests)
    passed = sum(int(test.get("weight", 1)) for test, result in zip(tests, results, strict=True) if result.passed)
    return Fraction(passed, total)


def grade_answer(item: Mapping[str, Any], answer: str) -> TaskResult:
    """Run the answer on the item's hidden tests in the sandbox; the share is the weighted tests passed."""
    tests: Sequence[Mapping[str, Any]] = item["tests"]
    if not answer.strip() or len(answer) > MAX_SOURCE_CHARS or "\x00" in answer:
        results = tuple(VariantResult(passed=False, reason="refused") for _ in tests)
    else:
        [reports] = run_programs([answer], item["function"]["name"], tests, runner_of(item))
        results = verdicts(tests, reports)
    return TaskResult(share=share_of(tests, results), variants=results, engine=engine())
