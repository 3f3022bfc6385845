"""Performance tasks run before a submit takes its database session: the slow part of grading never holds
a session, a connection or SQLite's writer lock, and a full grading pool answers 503 busy at once.

The dependency reads the attempt with a short read-only session, runs the sql_query answers in the grading
pool (app/grading/pool.py), and hands the runs to service.submit, whose grade stays the pure function of the
frozen items and the responses (rubric.grade with `runs`: the same results it would compute itself). Anything
that makes the submit fail anyway (an unknown key, someone else's attempt, a graded or expired attempt, a
malformed answer) runs nothing here and is answered by the submit itself. A submit none of whose answers holds
SELECT, VALUES or WITH (every SQLite statement that returns rows has one) skips even the read: whatever
sql_query answer it has is refused when prepared, at no cost worth a worker.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.assessments import freeze, service
from app.assessments.models import Assessment
from app.assessments.schemas import SubmitRequest
from app.assessments.validation import PERFORMANCE_TYPES
from app.auth import service as auth_service
from app.db import Database
from app.deps import ClockDep
from app.errors import AppError
from app.grading import rubric
from app.grading.outcomes import TaskResult
from app.grading.pool import GradingPool, Task

QUERY_WORD = re.compile(r"select|values|with|def|lambda", re.IGNORECASE)  # a python_function answer defines one


@dataclass(frozen=True)
class PreGraded:
    body: SubmitRequest
    runs: Mapping[str, TaskResult]


def tasks_of(session: Session, raw_key: str, attempt_id: str, responses: list[dict[str, Any]],
             now: dt.datetime) -> list[Task]:
    """The (frozen item, answer) pairs of the performance tasks this submit would grade; [] if it would fail."""
    principal = auth_service.authenticate(session, raw_key, now)
    if principal is None or principal.learner_id is None:
        return []
    try:
        attempt = service.get_attempt(session, attempt_id, principal)
    except AppError:
        return []
    if now > attempt.expires_at or service.grade_of(session, attempt.id) is not None:
        return []
    assessment = session.get(Assessment, attempt.assessment_id)
    if assessment is None:
        return []
    aliases = service.aliases_of(attempt) or {}
    by_id = {aliases.get(item["id"], item["id"]): item
             for item in freeze.attempt_items(assessment.items, attempt.item_ids)}
    tasks: list[Task] = []
    for response in responses:
        item = by_id.get(str(response.get("item_id")))
        answer = response.get("answer")
        if item is not None and item["type"] in PERFORMANCE_TYPES:
            try:
                rubric.check_answer_shape(item, answer)
            except rubric.ResponseError:
                return []
            assert isinstance(answer, str)
            tasks.append((item, answer))
    return tasks


def _read(sessions: sessionmaker[Session], raw_key: str, attempt_id: str, responses: list[dict[str, Any]],
          now: dt.datetime) -> list[Task]:
    with sessions() as session:
        return tasks_of(session, raw_key, attempt_id, responses, now)


async def pregrade(request: Request, attempt_id: str, body: SubmitRequest, now: ClockDep) -> PreGraded:
    """Run the submit's performance tasks in the grading pool, before the submit's own session."""
    scheme, _, raw_key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw_key.strip() or not any(
        isinstance(response.answer, str) and QUERY_WORD.search(response.answer) for response in body.responses
    ):
        return PreGraded(body, {})
    database: Database = request.app.state.database
    responses = [response.model_dump() for response in body.responses]
    async with database.admitted(writing=False):
        tasks = await run_in_threadpool(_read, database.read_sessions, raw_key.strip(), attempt_id, responses, now)
    pool: GradingPool = request.app.state.grading_pool
    return PreGraded(body, await pool.run(tasks))


PreGradedDep = Annotated[PreGraded, Depends(pregrade)]
