"""GET /v1/status-lists/{list_id}: the signed Bitstring Status List credential."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from app.credentials import jose
from app.deps import ClockDep, KeyStoreDep, SessionDep, SettingsDep
from app.errors import NotFound, error_responses
from app.status_lists import service

router = APIRouter(tags=["status lists"])

VC_JWT_MEDIA_TYPE = "application/vc+jwt"


@router.get(
    "/v1/status-lists/{list_id}",
    response_class=Response,
    responses={200: {"content": {VC_JWT_MEDIA_TYPE: {"schema": {"type": "string"}}}}, **error_responses(404)},
)
def get_status_list(
    list_id: str, session: SessionDep, settings: SettingsDep, keystore: KeyStoreDep, now: ClockDep
) -> Response:
    """The list as it is now, signed as vc+jwt; caches may keep it for its ttl."""
    document = service.list_credential(
        session, list_id=list_id, base_url=settings.base_url, issuer_did=settings.issuer_did,
        ttl_seconds=settings.status_list_ttl_seconds, now=now,
    )
    if document is None:
        raise NotFound("No such status list.")
    token, _ = keystore.sign(jose.claims_for(document))
    return Response(
        content=token,
        media_type=VC_JWT_MEDIA_TYPE,
        headers={"Cache-Control": f"public, max-age={settings.status_list_ttl_seconds}"},
    )
