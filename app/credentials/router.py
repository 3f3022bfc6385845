"""Reading credentials and changing their status; manual awards through the W3C VC API issuer route."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.credentials import awards, badge_image, builder, service
from app.credentials.schemas import (
    CredentialOut,
    CredentialStatus,
    IssueRequest,
    IssueResponse,
    StatusChange,
    StatusChanged,
)
from app.deps import (
    AdminOnly,
    AuditDep,
    ClockDep,
    CurrentLearner,
    CurrentPrincipal,
    KeyStoreDep,
    SessionDep,
    SettingsDep,
)
from app.errors import NotFound, error_responses
from app.openapi_bodies import json_request_body

router = APIRouter(tags=["credentials"])
# The W3C VC API issuer, beside the VC API verifier routes (app/verification/vc_api.py): no /v1 prefix.
vc_api_router = APIRouter(tags=["VC API"])


@router.get("/v1/achievements/{skill_id}/{level}", responses=error_responses(404))
def get_achievement(skill_id: str, level: str, request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The Open Badges Achievement that credentials' achievement ids name (public)."""
    skill = request.app.state.generator.skills.get(skill_id)
    if skill is None or level not in skill.levels:
        raise NotFound("No such achievement.")
    blueprint = skill.blueprints.get(level)
    return builder.public_achievement(
        base_url=settings.base_url, issuer=service.issuer_of(settings), skill_id=skill.id, skill_name=skill.name,
        skill_description=skill.description, level=level,
        level_descriptor=blueprint.descriptor if blueprint else "",
        competencies=service.competency_lines(blueprint.to_json(), blueprint.attempt_items) if blueprint else (),
    )


@router.get(
    "/v1/achievements/{skill_id}/{level}/image.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The achievement's SVG badge."},
               **error_responses(404)},
)
def get_achievement_image(skill_id: str, level: str, request: Request, settings: SettingsDep) -> Response:
    """The Achievement's image (public): an SVG naming the skill, the level and the issuer."""
    skill = request.app.state.generator.skills.get(skill_id)
    if skill is None or level not in skill.levels:
        raise NotFound("No such achievement.")
    svg = badge_image.achievement_svg(
        skill_id=skill.id, skill_name=skill.name, level=level, issuer_name=settings.issuer_name
    )
    # Same inputs, same bytes: caches may keep it a day; nosniff so it is never taken for HTML.
    return Response(svg, media_type="image/svg+xml", headers={
        "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    })


@router.get("/v1/credentials/{credential_id}", response_model=CredentialOut, responses=error_responses(401, 404))
def get_credential(credential_id: str, principal: CurrentPrincipal, session: SessionDep) -> CredentialOut:
    """A credential with its JWS and current status (owner or admin)."""
    record = service.get_visible(session, credential_id, principal)
    return CredentialOut(**service.credential_json(session, record))


@router.get(
    "/v1/learners/me/credentials", response_model=list[CredentialOut], responses=error_responses(401, 403)
)
def my_credentials(principal: CurrentLearner, session: SessionDep) -> list[CredentialOut]:
    """The calling learner's credentials, oldest first."""
    assert principal.learner_id is not None
    return [
        CredentialOut(**service.credential_json(session, record))
        for record in service.of_learner(session, principal.learner_id)
    ]


def _change(
    action: Literal["revoke", "suspend", "reinstate"], credential_id: str, body: StatusChange | None,
    principal: AdminOnly, session: SessionDep, now: ClockDep, audit: AuditDep,
) -> StatusChanged:
    record = service.get_visible(session, credential_id, principal)
    status = service.change_status(session, record, action=action, reason=body.reason if body else None, now=now)
    audit.record(f"credential.{action}", "credential", record.id, reason=body.reason if body else None)
    return StatusChanged(id=record.id, status=CredentialStatus(**status))


STATUS_ERRORS = error_responses(401, 403, 404, 409, 422)


@router.post("/v1/credentials/{credential_id}/revoke", response_model=StatusChanged, responses=STATUS_ERRORS)
def revoke(
    credential_id: str, principal: AdminOnly, session: SessionDep, now: ClockDep, audit: AuditDep,
    body: StatusChange | None = None,
) -> StatusChanged:
    """Revoke for good: the revocation bit is set and verification fails with `revoked`."""
    return _change("revoke", credential_id, body, principal, session, now, audit)


@router.post("/v1/credentials/{credential_id}/suspend", response_model=StatusChanged, responses=STATUS_ERRORS)
def suspend(
    credential_id: str, principal: AdminOnly, session: SessionDep, now: ClockDep, audit: AuditDep,
    body: StatusChange | None = None,
) -> StatusChanged:
    """Suspend until reinstated: verification fails with `suspended`."""
    return _change("suspend", credential_id, body, principal, session, now, audit)


@router.post("/v1/credentials/{credential_id}/reinstate", response_model=StatusChanged, responses=STATUS_ERRORS)
def reinstate(
    credential_id: str, principal: AdminOnly, session: SessionDep, now: ClockDep, audit: AuditDep,
    body: StatusChange | None = None,
) -> StatusChanged:
    """Lift a suspension (revocation is final)."""
    return _change("reinstate", credential_id, body, principal, session, now, audit)


async def issue_request(request: Request) -> IssueRequest:
    """The body of POST /credentials/issue, read by hand: the VC API answers bad input with 400, not 422."""
    return awards.parse_request(await request.body())


@vc_api_router.post(
    "/credentials/issue",
    status_code=201,
    response_model=IssueResponse,
    openapi_extra=json_request_body(IssueRequest),
    responses={
        201: {"description": "Issued: the credential in its Data Integrity form",
              "headers": {"Location": {"schema": {"type": "string"},
                                       "description": "/v1/credentials/{id}: the record (vc+jwt form, status)"}}},
        **error_responses(400, 401, 403, 413),
    },
)
def issue_credential(
    principal: AdminOnly,
    body: Annotated[IssueRequest, Depends(issue_request)],
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    keystore: KeyStoreDep,
    now: ClockDep,
    audit: AuditDep,
) -> IssueResponse:
    """VC API: a manual award (admin) of a known achievement to a known learner, evidence "awarded by admin".

    400 `invalid_json`, `validation_error`, `issuer_mismatch`, `unknown_achievement`, `unknown_learner`;
    a refused request writes nothing. The credential carries a status entry and both proofs (vc+jwt, ldp).
    """
    record = awards.award(
        session, settings=settings, keystore=keystore, skills=request.app.state.generator.skills, request=body,
        actor=principal, now=now,
    )
    audit.record("credential.award", "credential", record.id, details={
        "learner_id": record.learner_id,
        "achievement": body.credential.credentialSubject.achievement.id,
    })
    response.headers["Location"] = f"/v1/credentials/{record.id}"
    assert record.ldp is not None  # awards.award refuses otherwise
    return IssueResponse(verifiableCredential=record.ldp)
