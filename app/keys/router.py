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
