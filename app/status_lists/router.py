"""GET /v1/status-lists/{list_id}: the Bitstring Status List credential, as vc+jwt or as JSON with a DI proof."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.credentials import canonical_pool, data_integrity, jose
from app.deps import ClockDep, KeyStoreDep, SessionDep, SettingsDep
from app.errors import NotFound, error_responses
from app.status_lists import service

router = APIRouter(tags=["status lists"])

VC_JWT_MEDIA_TYPE = "application/vc+jwt"
# VC DM 2.0 §6.3 media types of a credential secured with an embedded proof (and plain JSON-LD).
JSON_MEDIA_TYPES = ("application/vc", "application/ld+json")


def negotiate(accept: str | None) -> str:
    """The media type to answer with: the Accept entry with the highest q we serve; vc+jwt on ties or else."""
    best, best_q = VC_JWT_MEDIA_TYPE, -1.0
    for entry in (accept or "").split(","):
        media, *params = (part.strip() for part in entry.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if q <= 0 or media not in (VC_JWT_MEDIA_TYPE, *JSON_MEDIA_TYPES):
            continue
        if q > best_q or (q == best_q and media == VC_JWT_MEDIA_TYPE):
            best, best_q = media, q
    return best  # never 406: an Accept we cannot meet gets the default


@router.get(
    "/v1/status-lists/{list_id}",
    response_class=Response,
    responses={
        200: {
            "description": "vc+jwt by default; with Accept: application/vc or application/ld+json, the same list "
            "as JSON with an embedded DataIntegrityProof (eddsa-rdfc-2022).",
            "content": {
                VC_JWT_MEDIA_TYPE: {"schema": {"type": "string"}},
                **{media: {"schema": {"type": "object"}} for media in JSON_MEDIA_TYPES},
            },
        },
        **error_responses(404),
    },
)
def get_status_list(
    list_id: str, request: Request, session: SessionDep, settings: SettingsDep, keystore: KeyStoreDep, now: ClockDep
) -> Response:
    """The list as it is now, signed as vc+jwt or with a Data Integrity proof; caches may keep it for its ttl."""
    document = service.list_credential(
        session, list_id=list_id, base_url=settings.base_url, issuer_did=settings.issuer_did,
        ttl_seconds=settings.status_list_ttl_seconds, now=now,
    )
    if document is None:
        raise NotFound("No such status list.")
    media_type = negotiate(request.headers.get("accept"))
    headers = {"Cache-Control": f"public, max-age={settings.status_list_ttl_seconds}", "Vary": "Accept"}
    if media_type == VC_JWT_MEDIA_TYPE:
        token, _ = keystore.sign(jose.claims_for(document))
        return Response(content=token, media_type=VC_JWT_MEDIA_TYPE, headers=headers)
    key = keystore.data_integrity_key()
    assert isinstance(key.private_key, ed25519.Ed25519PrivateKey)  # eddsa-rdfc-2022 keys are Ed25519
    secured = data_integrity.add_proof(
        document, key.private_key, f"{settings.issuer_did}#{key.kid}", now, hasher=canonical_pool.hash_data
    )
    return Response(content=json.dumps(secured, ensure_ascii=False), media_type=media_type, headers=headers)
