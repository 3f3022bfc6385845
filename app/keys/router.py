"""Public key documents: JWKS and did:web."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import KeyStoreDep, SettingsDep
from app.keys import documents

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
