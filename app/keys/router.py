"""Public key documents: JWKS and did:web."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.deps import AdminOnly, AuditDep, KeyStoreDep, SettingsDep
from app.errors import ServiceUnavailable, error_responses
from app.keys import documents
from app.keys.keystore import KeyStoreError

router = APIRouter(tags=["keys"])


class DidDocumentResponse(JSONResponse):
    """A DID document in its JSON representation (DID Core §6.2.1, did:web §2.5)."""

    media_type = documents.DID_MEDIA_TYPE


@router.get("/.well-known/jwks.json")
def get_jwks(keystore: KeyStoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Every vc+jwt public key that ever signed and is not withdrawn, under its DID URL kid and its bare kid."""
    return documents.jwks(keystore, settings.issuer_did)


@router.get("/.well-known/did.json", response_class=DidDocumentResponse)
def get_did_document(keystore: KeyStoreDep, settings: SettingsDep) -> DidDocumentResponse:
    """The issuer's did:web document: vc+jwt keys as JsonWebKey, the Data Integrity key as Multikey."""
    return DidDocumentResponse(documents.did_document(keystore, settings.issuer_did))


@router.get("/did.json", include_in_schema=False, response_class=DidDocumentResponse)
def get_did_document_under_path(keystore: KeyStoreDep, settings: SettingsDep) -> DidDocumentResponse:
    # did:web with a path (SKILLPROOF_PUBLIC_URL=https://host/base) resolves to https://host/base/did.json;
    # a proxy that strips /base reaches this route.
    return DidDocumentResponse(documents.did_document(keystore, settings.issuer_did))


class SkippedFile(BaseModel):
    file: str
    reason: str


class KeysReloaded(BaseModel):
    active: str
    kids: list[str]
    skipped: list[SkippedFile]


@router.post("/v1/admin/keys/reload", response_model=KeysReloaded, responses=error_responses(401, 403, 503))
def reload_keys(_: AdminOnly, keystore: KeyStoreDep, audit: AuditDep) -> KeysReloaded:
    """Re-read the key files of this process now; files that cannot be used are listed and skipped.

    Other processes sharing the keys directory follow `skillproof keys reload` (or rotate/withdraw) instead.
    """
    try:
        report = keystore.reload()
    except KeyStoreError as exc:
        raise ServiceUnavailable(str(exc), code="keys_unavailable") from None
    audit.record("keys.reload", "keystore", report.active, details={"skipped": len(report.skipped)})
    return KeysReloaded(
        active=report.active,
        kids=report.kids,
        skipped=[SkippedFile(file=name, reason=reason) for name, reason in report.skipped],
    )
