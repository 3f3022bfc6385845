"""Public key documents: JWKS and did:web."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from app.deps import AdminOnly, AuditDep, KeyStoreDep, SettingsDep
from app.errors import ServiceUnavailable, error_responses
from app.keys import documents
from app.keys.keystore import KeyStoreError

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json")
def get_jwks(keystore: KeyStoreDep) -> dict[str, Any]:
    """Every public key that ever signed and is not withdrawn."""
    return documents.jwks(keystore)


@router.get("/.well-known/did.json")
def get_did_document(keystore: KeyStoreDep, settings: SettingsDep) -> dict[str, Any]:
    """The issuer's did:web document; the same keys as verification methods."""
    return documents.did_document(keystore, settings.issuer_did)


@router.get("/did.json", include_in_schema=False)
def get_did_document_under_path(keystore: KeyStoreDep, settings: SettingsDep) -> dict[str, Any]:
    # did:web with a path (SKILLPROOF_PUBLIC_URL=https://host/base) resolves to https://host/base/did.json;
    # a proxy that strips /base reaches this route.
    return documents.did_document(keystore, settings.issuer_did)


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
