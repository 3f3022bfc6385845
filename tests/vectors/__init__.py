"""Checked-in test keys and golden vectors (see README.md in this directory for their provenance)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_private_key

VECTORS = Path(__file__).parent
ISSUER = "did:web:skillproof.example"
# RFC 7638 thumbprint of the RFC 8037 Appendix A.1 public key (= RFC 8037 Appendix A.3).
ED25519_KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def _private_key(name: str) -> Any:
    return load_pem_private_key((VECTORS / "keys" / name).read_bytes(), password=None)


def ed25519_key() -> ed25519.Ed25519PrivateKey:
    """RFC 8037 Appendix A.1 Ed25519 key."""
    key = _private_key("ed25519.pem")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def ed25519_second_key() -> ed25519.Ed25519PrivateKey:
    """A second Ed25519 key, generated once for these tests."""
    key = _private_key("ed25519-second.pem")
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key


def p256_key() -> ec.EllipticCurvePrivateKey:
    """RFC 7515 Appendix A.3 P-256 key."""
    key = _private_key("p256.pem")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def credential() -> dict[str, Any]:
    """A fixed Open Badges 3.0 credential payload (fresh copy)."""
    data: dict[str, Any] = json.loads((VECTORS / "credential.json").read_text(encoding="utf-8"))
    return data


def golden_token() -> str:
    """`credential()` signed with `ed25519_key()` and kid ED25519_KID (Ed25519 is deterministic)."""
    return (VECTORS / "credential.ed25519.jwt").read_text(encoding="ascii").strip()


def vector_token(name: str) -> str:
    """A checked-in compact JWS from this directory (see README.md)."""
    return (VECTORS / name).read_text(encoding="ascii").strip()


def status_list() -> dict[str, Any]:
    """A fixed BitstringStatusListCredential payload of our test issuer (fresh copy)."""
    data: dict[str, Any] = json.loads((VECTORS / "status-list.json").read_text(encoding="utf-8"))
    return data


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# The order of the P-256 group (SEC 2 §2.4.2), written out here so the tests do not take it from the code.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sign_raw(header: bytes, payload: bytes, key: Any = None, alg: str = "EdDSA", *, high_s: bool = False) -> str:
    """A compact JWS over raw JSON bytes with a real signature (by default the RFC 8037 key).

    ES256 signatures are given in low-S form (s <= n/2), or in high-S form if `high_s`.
    """
    signing_input = f"{b64url(header)}.{b64url(payload)}".encode()
    key = key or ed25519_key()
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        if (s > P256_ORDER // 2) != high_s:
            s = P256_ORDER - s
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = key.sign(signing_input)
    return f"{signing_input.decode()}.{b64url(signature)}"


def credential_claims() -> dict[str, Any]:
    """`credential()` as a JWT claims set (iss, jti, sub, nbf, exp added): the payload of the DID-URL vectors."""
    data: dict[str, Any] = json.loads((VECTORS / "credential-claims.json").read_text(encoding="utf-8"))
    return data
