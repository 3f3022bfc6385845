"""POST /v1/learners."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth import service
from app.auth.models import Learner
from app.auth.schemas import LearnerCreate, LearnerCreated, LearnerOut
from app.deps import AdminOnly, ClockDep, CurrentLearner, SessionDep
from app.errors import error_responses

router = APIRouter(prefix="/v1/learners", tags=["learners"])


def learner_out(learner: Learner) -> LearnerOut:
    return LearnerOut(
        id=learner.id, name=learner.name, email=learner.email, did=learner.did,
        subject_id=learner.did or learner.subject_urn, created_at=learner.created_at,
    )


@router.post("", status_code=201, response_model=LearnerCreated, responses=error_responses(401, 403, 422))
def create_learner(body: LearnerCreate, _: AdminOnly, session: SessionDep, now: ClockDep) -> LearnerCreated:
    """Create a learner and their API key (the key is shown only in this response)."""
    learner, raw_key = service.create_learner(session, name=body.name, email=body.email, did=body.did, now=now)
    return LearnerCreated(**learner_out(learner).model_dump(), api_key=raw_key)


@router.get("/me", response_model=LearnerOut, responses=error_responses(401, 403))
def who_am_i(principal: CurrentLearner, session: SessionDep) -> LearnerOut:
    """The calling learner."""
    learner = session.get(Learner, principal.learner_id)
    assert learner is not None
    return learner_out(learner)
