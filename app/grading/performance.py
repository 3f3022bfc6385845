"""Performance tasks: items graded by running the answer. Every kind goes through this seam (grading, the worker
pool, the authoring checks, the credential's evidence): `sql_query` runs in app/grading/sql_task.py, `python_function`
in app/grading/python_task.py (a bubblewrap sandbox); both return the same TaskResult.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import rfc8785

from app.grading import python_task, sql_task
from app.grading.outcomes import TaskResult

PERFORMANCE_TYPES = ("sql_query", "python_function")


def run_task(item: Mapping[str, Any], answer: str) -> TaskResult:
    """Run the answer of one performance task (pure: the same frozen item and answer give the same result)."""
    if item["type"] == "sql_query":
        return sql_task.grade_answer(item, answer)
    if item["type"] == "python_function":
        return python_task.grade_answer(item, answer)
    raise ValueError(f"not a performance task: {item['type']!r}")


def task_key(item: Mapping[str, Any], answer: str) -> str:
    """What identifies one run of a performance task: the item's frozen content (its id aside) and the answer."""
    body = {key: value for key, value in item.items() if key != "id"}
    return hashlib.sha256(rfc8785.dumps({"item": body, "answer": answer})).hexdigest()
