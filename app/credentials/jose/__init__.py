"""JOSE for `vc+jwt` credentials, split by concept (as joserfc is); PURE: no I/O, no clock, no environment.

errors (the exception tree), b64 (base64url), jwk (JWK, thumbprints, Multikey), jws (parse, sign, verify),
claims (the JWT claims of a credential). Everything is re-exported here: `jose.parse_compact(...)`.
"""

from __future__ import annotations

from app.credentials.jose.b64 import b64url_decode, b64url_encode
from app.credentials.jose.claims import claim_conflicts, claims_for, numeric_date
from app.credentials.jose.errors import InvalidSignature, JoseError, MalformedJose, UnsupportedAlgorithm
from app.credentials.jose.jwk import (
    ED25519_ALGORITHMS,
    PrivateKey,
    PublicKey,
    alg_for_key,
    algorithms_for_key,
    jwk_thumbprint,
    public_jwk,
    public_key_from_jwk,
    public_key_from_multibase,
    public_key_multibase,
)
from app.credentials.jose.jws import (
    ALLOWED_ALGORITHMS,
    MAX_JSON_DEPTH,
    MAX_TOKEN_LENGTH,
    P256_ORDER,
    TYP,
    ParsedJws,
    loads_strict,
    parse_compact,
    sign_compact,
    verify_signature,
)

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ED25519_ALGORITHMS",
    "MAX_JSON_DEPTH",
    "MAX_TOKEN_LENGTH",
    "P256_ORDER",
    "TYP",
    "InvalidSignature",
    "JoseError",
    "MalformedJose",
    "ParsedJws",
    "PrivateKey",
    "PublicKey",
    "UnsupportedAlgorithm",
    "alg_for_key",
    "algorithms_for_key",
    "b64url_decode",
    "b64url_encode",
    "claim_conflicts",
    "claims_for",
    "jwk_thumbprint",
    "loads_strict",
    "numeric_date",
    "parse_compact",
    "public_jwk",
    "public_key_from_jwk",
    "public_key_from_multibase",
    "public_key_multibase",
    "sign_compact",
    "verify_signature",
]
