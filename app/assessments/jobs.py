"""LLM generation as jobs: state in the database, run by a worker thread, recovered after a restart.

A job either creates its whole draft assessment in one transaction together with `succeeded`, or ends
`failed` with a reason; it never half-creates an assessment.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.assessments import freeze, service
from app.assessments.generators import brief as briefs
from app.assessments.generators.bank import BankGenerator
from app.assessments.generators.llm import ITEM_TYPES, WRITABLE_TYPES, LlmGenerator, solver_config
from app.assessments.models import GenerationJob
from app.assessments.schemas import AssessmentCreate
from app.calibration import service as calibration
from app.config import Settings
from app.db import Database
from app.errors import NotFound, Unprocessable
from app.grading import python_task
from app.llm.client import CallRecord, LlmClient, LlmConfig, LlmError

logger = logging.getLogger("skillproof.jobs")

HEARTBEAT_SECONDS = 5.0
STALE_AFTER = dt.timedelta(seconds=30)
MAX_RUNS = 2
MAX_CALLS_REPORTED = 500


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def job_json(job: GenerationJob) -> dict[str, Any]:
    return {
        "id": job.id, "status": job.status, "assessment_id": job.assessment_id, "kept": job.kept,
        "dropped": job.dropped, "error": job.error, "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at, "llm": job.llm_usage,
    }


def usage_json(calls: list[CallRecord], form: str) -> dict[str, Any]:
    """What a job reports of its LLM calls: the form in use, each call (the last 500), and token totals."""
    prompts = [call.prompt_tokens for call in calls if call.prompt_tokens is not None]
    return {
        "structured_output": form,
        "calls": [call.as_json() for call in calls[-MAX_CALLS_REPORTED:]],
        "calls_omitted": max(len(calls) - MAX_CALLS_REPORTED, 0),
        "prompt_tokens": sum(prompts),
        "completion_tokens": sum(call.completion_tokens or 0 for call in calls),
        "largest_prompt_tokens": max(prompts, default=None),
    }


def enqueue(session: Session, body: AssessmentCreate, *, bank: BankGenerator, settings: Settings,
            now: dt.datetime) -> GenerationJob:
    """Check what can be checked now (skill, level, LLM configured), then queue the job."""
    if not settings.llm_base_url or not settings.llm_model:
        raise Unprocessable(
            "The LLM generator needs SKILLPROOF_LLM_BASE_URL and SKILLPROOF_LLM_MODEL.", code="generator_unavailable"
        )
    service.requested_skill(body, bank)
    unsupported = sorted(set(body.item_types or ()) - set(WRITABLE_TYPES))
    if unsupported:
        raise Unprocessable(
            f"The LLM generator does not write {unsupported} items; it writes {list(WRITABLE_TYPES)}.",
            code="unsupported_item_type",
        )
    if "python_function" in (body.item_types or ()) and not python_task.available():
        # The checks run a generated task's reference and wrong answers in the sandbox: none could be kept.
        raise Unprocessable(
            "python_function tasks run in a bubblewrap sandbox, which is not installed here "
            "(apt-get install -y bubblewrap); ask for other item types.",
            code="sandbox_unavailable",
        )
    request = body.model_dump(mode="json")
    request.update(service.retake_policy(body, settings))  # the defaults as they are now, made explicit
    request["seed"] = body.seed if body.seed is not None else secrets.randbelow(2**31)
    job = GenerationJob(status="queued", request=request, kept=0, dropped=[], created_at=now, runs=0)
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> GenerationJob:
    job = session.get(GenerationJob, job_id)
    if job is None:
        raise NotFound("No such job.")
    return job


class JobRunner:
    """One worker thread per process; jobs are claimed atomically, so replicas can share a database."""

    def __init__(
        self, database: Database, settings: Settings, bank: BankGenerator,
        llm_config: LlmConfig | None = None, poll_seconds: float = 1.0,
    ):
        self.database = database
        self.settings = settings
        self.bank = bank
        self.poll_seconds = poll_seconds
        self._llm_config = llm_config
        self._llm_client: LlmClient | None = None  # one per process: its circuit breaker spans jobs
        self._solver_client: LlmClient | None = None  # the same, for a solver on its own endpoint
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="skillproof-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for client in (self._llm_client, self._solver_client):
            if client is not None:
                client.close()

    def _generator(self) -> LlmGenerator:
        config = self._llm_config or LlmConfig.from_settings(self.settings)
        judge = solver_config(self.settings, config)
        if self._llm_client is None:
            self._llm_client = LlmClient(config)
        if judge == config:
            return LlmGenerator(config, self._llm_client)
        if self._solver_client is None:
            self._solver_client = LlmClient(judge)
        return LlmGenerator(config, self._llm_client, solver_config=judge, solver_client=self._solver_client)

    def notify(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._anything_to_do():
                    self.recover_stale()
                    while not self._stop.is_set() and self.run_one():
                        pass
            except Exception:  # the worker must outlive any one bad job or database hiccup
                logger.exception("job worker error")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _anything_to_do(self) -> bool:
        """A read-only look first, so an idle worker never takes SQLite's write lock."""
        with self.database.engine.connect().execution_options(read_only=True) as connection:
            return connection.execute(
                select(GenerationJob.id).where(GenerationJob.status.in_(("queued", "running"))).limit(1)
            ).first() is not None

    def recover_stale(self, now: dt.datetime | None = None) -> None:
        """Jobs whose worker stopped (a restart) are queued again, or failed after MAX_RUNS."""
        now = now or _utcnow()
        stale = now - STALE_AFTER
        with self.database.sessions.begin() as session:
            orphans = session.scalars(
                select(GenerationJob).where(
                    GenerationJob.status == "running",
                    or_(GenerationJob.heartbeat_at.is_(None), GenerationJob.heartbeat_at < stale),
                )
            ).all()
            for job in orphans:
                if job.runs >= MAX_RUNS:
                    job.status, job.finished_at = "failed", now
                    job.error = f"The job was interrupted {job.runs} times (service restarts); it was not retried."
                else:
                    job.status = "queued"

    def _claim(self) -> GenerationJob | None:
        with self.database.sessions.begin() as session:
            candidate = session.scalar(
                select(GenerationJob.id).where(GenerationJob.status == "queued").order_by(GenerationJob.created_at)
                .limit(1)
            )
            if candidate is None:
                return None
            now = _utcnow()
            claimed = session.execute(
                update(GenerationJob)
                .where(GenerationJob.id == candidate, GenerationJob.status == "queued")
                .values(status="running", started_at=now, heartbeat_at=now, runs=GenerationJob.runs + 1)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None  # another replica took it
            return session.get(GenerationJob, candidate)

    def _beat(self, job_id: str, done: threading.Event) -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            with self.database.sessions.begin() as session:
                session.execute(
                    update(GenerationJob).where(GenerationJob.id == job_id, GenerationJob.status == "running")
                    .values(heartbeat_at=_utcnow()).execution_options(synchronize_session=False)
                )

    def run_one(self) -> bool:
        """Run the oldest queued job; False when there was none."""
        job = self._claim()
        if job is None:
            return False
        done = threading.Event()
        beater = threading.Thread(target=self._beat, args=(job.id, done), daemon=True)
        beater.start()
        try:
            self._run(job.id, job.request)
        finally:
            done.set()
            beater.join(timeout=5)
        return True

    def _run(self, job_id: str, request: dict[str, Any]) -> None:
        body = AssessmentCreate.model_validate(request)
        skill = self.bank.skills[body.skill]
        seed = int(request["seed"])
        usage: dict[str, Any] | None = None
        try:
            # Without item_types: the selected-response and recall types; performance tasks only when named (they
            # run in the bounded grading pool, as the bank's do).
            types = list(body.item_types or ITEM_TYPES)
            # The brief plans the items per competency: the blueprint's weights (today the bank pool's shares).
            # Exemplars come from the public demo bank only: a private bank's items would leave in every prompt.
            brief = briefs.from_bank(skill, body.level, body.item_count, types, seed,
                                     with_exemplars=self.bank.kind == "demo")
            generator = self._generator()
            try:
                with generator.client.recording() as calls:  # the solver's calls too (one thread)
                    try:
                        result = generator.generate(brief, item_types=types, seed=seed)
                    finally:
                        usage = usage_json(calls, generator.client.form)
            finally:
                generator.close()
        except (LlmError, ValueError) as exc:
            self._finish(job_id, error=getattr(exc, "reason", str(exc)), dropped=[], usage=usage)
            return
        if len(result.kept) < body.item_count:
            self._finish(
                job_id, dropped=result.dropped, kept=len(result.kept), usage=usage,
                error=(f"Only {len(result.kept)} of {body.item_count} generated items passed the checks; "
                       "no assessment was created (see dropped for the reasons)."
                       + (f" Notes: {'; '.join(result.notes)}" if result.notes else "")),
            )
            return
        with self.database.sessions.begin() as session:
            job = session.get(GenerationJob, job_id)
            if job is None or job.status != "running":
                return  # failed or re-queued meanwhile; never create twice
            # Quarantine holds for generated items too (an id seen before, e.g. a regenerated draft's).
            state = calibration.draft_state(session, skill.id, body.level, self.settings)
            kept = [item for item in result.kept if item["id"] not in state.quarantined]
            items = [freeze.normalise_item(item) for item in kept[: body.item_count]]
            assessment = service.new_draft(
                session, body, skill_id=skill.id, skill_name=skill.name, skill_description=skill.description,
                items=items, seed=seed, generator_name="llm", provenance=result.provenance,
                dropped=result.dropped, settings=self.settings, now=_utcnow(),
            )
            job.status, job.assessment_id, job.kept = "succeeded", assessment.id, len(items)
            job.dropped, job.finished_at, job.error, job.llm_usage = result.dropped, _utcnow(), None, usage

    def _finish(self, job_id: str, *, error: str, dropped: list[dict[str, Any]], kept: int = 0,
                usage: dict[str, Any] | None = None) -> None:
        with self.database.sessions.begin() as session:
            job = session.get(GenerationJob, job_id)
            if job is None or job.status != "running":
                return
            job.status, job.error, job.dropped, job.kept, job.finished_at = "failed", error, dropped, kept, _utcnow()
            job.llm_usage = usage
