"""Hostile python_function answers: each is contained by the bubblewrap sandbox and its limits (graded 0, its
tests failing with a named reason), nothing outside the sandbox changes, and a server grading a burst of them
keeps answering verify within twice its idle latency."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from app.assessments.generators.bank import BANK_DIR, load_bank
from app.config import Settings
from app.grading import performance, python_task
from tests.tasks import assert_a_hostile_burst_leaves_verify_fast

pytestmark = pytest.mark.skipif(
    not python_task.available(), reason="bubblewrap (bwrap) is not installed: `apt-get install -y bubblewrap`"
)
ITEM = next(
    ({key: value for key, value in item.items() if key != "level"}
     for item in load_bank(BANK_DIR)["python"].items if item["id"] == "python-task-f01"),
    None,
)
KEYS_DIR = Settings().keys_dir
MARKER = Path("/tmp") / f"skillproof-hostile-{os.getpid()}"
HEAD = "def count_vowels(text):\n"
# (answer, the reasons its tests may fail with); every one must score 0
HOSTILE: list[tuple[str, set[str]]] = [
    ("import os\nwhile True:\n    os.fork()\n" + HEAD + "    return 0", {"AttributeError"}),
    ("import posix\n" + HEAD + "    while True:\n        posix.fork()", {"AttributeError"}),
    ("import _thread, time\n" + HEAD + "    while True:\n        _thread.start_new_thread(time.sleep, (60,))",
     {"RuntimeError", "time_limit", "MemoryError"}),
    (HEAD + "    while True:\n        pass", {"time_limit"}),
    ("while True:\n    pass\n", {"time_limit"}),
    (HEAD + "    return len(' ' * 10**10)", {"MemoryError"}),
    (HEAD + "    x = []\n    while True:\n        x.append(' ' * 10**6)", {"MemoryError", "time_limit", "crashed"}),
    (HEAD + "    return open('/etc/passwd').read().count('root')", {"FileNotFoundError"}),
    (HEAD + f"    return len(open({str(KEYS_DIR)!r} + '/' + __import__('os').listdir({str(KEYS_DIR)!r})[0]).read())",
     {"FileNotFoundError"}),
    (HEAD + f"    return len(open({str(Path.cwd() / 'pyproject.toml')!r}).read())", {"FileNotFoundError"}),
    (HEAD + f"    open({str(MARKER)!r}, 'w').write('x')\n    return -1", {"wrong_result"}),  # a fresh /tmp inside
    (HEAD + "    open('/usr/pwned', 'w')\n    return 0", {"OSError", "PermissionError"}),
    (HEAD + "    open('/tmp/big', 'w').write('x' * 50_000_000)\n    return 0", {"OSError", "MemoryError"}),
    ("import socket\n" + HEAD + "    return 0", {"ImportError"}),
    (HEAD + "    s = __import__('_socket').socket()\n    s.connect(('1.1.1.1', 80))\n    return 0", {"ImportError"}),
    ("import ctypes\n" + HEAD + "    return 0", {"ImportError"}),
    (HEAD + "    import os\n    os.system('touch /tmp/x')\n    return 0", {"AttributeError"}),
    (HEAD + "    import subprocess\n    return subprocess.run(['ls']).returncode", {"ImportError"}),
    (HEAD + "    import os\n    os.kill(1, 9)\n    return 0", {"AttributeError"}),
    (HEAD + "    print('x' * 10**8)\n    return -1", {"wrong_result"}),
    (HEAD + "    import os\n    os.write(1, b'y' * 10**8)\n    return -1", {"wrong_result"}),
    ("import os, json\nfor fd in range(3, 64):\n    try:\n        os.write(fd, (json.dumps({'p': 0, 't': 0, "
     "'value': 10}) + '\\n').encode() * 10**5)\n    except OSError:\n        pass\n" + HEAD + "    return -1",
     {"forged"}),
    ("import os, sys, json\nos.write(int(sys.argv[1]), (json.dumps({'p': 0, 't': 0, 'value': 10})"
     " + '\\n').encode())\n" + HEAD + "    return -1", {"forged"}),
    ("import sys\nsys.setrecursionlimit(10**6)\n" + HEAD + "    return count_vowels(text)",
     {"RecursionError", "crashed", "MemoryError", "time_limit"}),
    (HEAD + "    import sys\n    sys.exit(0)", {"SystemExit"}),
    ("import os\nos._exit(0)\n", {"no_result"}),
    (HEAD + "    raise KeyboardInterrupt", {"KeyboardInterrupt"}),
    (HEAD + "    return float('nan')", {"ValueError"}),
    (HEAD + "    return {1, 2}", {"TypeError"}),
    ("\x00", {"refused"}),
    ("", {"refused"}),
]
SLOW = {"time_limit", "crashed"}


@pytest.mark.parametrize(
    ("answer", "reasons"),
    [pytest.param(answer, reasons, marks=[pytest.mark.slow] if reasons & SLOW else []) for answer, reasons in HOSTILE],
    ids=[answer.replace("\n", " ")[:60] for answer, _ in HOSTILE],
)
def test_a_hostile_answer_is_contained_and_graded_zero(answer: str, reasons: set[str]) -> None:
    assert ITEM is not None
    started = time.monotonic()
    result = performance.run_task(ITEM, answer)
    assert result.share == 0, result
    assert {variant.reason for variant in result.variants} <= reasons, result
    assert time.monotonic() - started < python_task.DEFAULT_RUNNER["wall_seconds"] + 2
    assert not MARKER.exists()  # what it wrote stayed in the sandbox's own /tmp


def test_the_harness_reports_only_values_never_the_expected_ones() -> None:
    assert ITEM is not None
    snoop = HEAD + "    import sys\n    return repr(sys._getframe(1).f_globals.get('job'))"
    [reports] = python_task.run_programs([snoop], "count_vowels", ITEM["tests"], python_task.runner_of(ITEM))
    assert all("expected" not in str(report.get("value")) for report in reports)
    assert "args" in str(reports[0]["value"])  # it sees the calls, as the function would anyway


BOMBS = ["import os\nwhile True:\n    os.fork()\n", "def x():\n    while True:\n        pass\nx()\n",
         "x = []\nwhile True:\n    x.append(' ' * 10**6)\n", "while True:\n    print('x' * 10**6)\n"]


@pytest.mark.slow
@pytest.mark.serial  # verify latency against idle: run alone, in `make pytest`'s serial pass
def test_a_server_grading_a_burst_of_hostile_answers_keeps_verify_latency_within_twice_idle(tmp_path: Path) -> None:
    assert_a_hostile_burst_leaves_verify_fast(
        tmp_path,
        {"skill": "python", "level": "foundation", "item_count": 4, "item_types": ["python_function"], "seed": 3},
        # Each bomb beside the asked function, so the answer is well-formed and the bomb runs when imported.
        lambda item, n: BOMBS[n % len(BOMBS)] + f"\ndef {item['function']['name']}(*a):\n    return 0\n",
    )
