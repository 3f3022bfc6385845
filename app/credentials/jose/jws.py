"""Compact JWS for `vc+jwt` (VC-JOSE-COSE §3.1.1): sign with PyJWT, parse strictly, verify with cryptography.

The verification algorithm is chosen by the key's type, never by the token's `alg`; `alg` must be in the
allow-list and must match the key (RFC 8725 §3.1, §2.1).
"""

from __future__ import annotations

import binascii
import json
import threading
from typing import Any, Final, NamedTuple, cast

import jwt
from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
from nacl._sodium import ffi as _sodium_ffi
from nacl._sodium import lib as _sodium_lib
from nacl.exceptions import BadSignatureError

from app import strict_json
from app.credentials.jose.b64 import b64url_decode, b64url_decode_segment, b64url_encode
from app.credentials.jose.errors import InvalidSignature, MalformedJose, UnsupportedAlgorithm
from app.credentials.jose.jwk import ED25519_ALGORITHMS, PrivateKey, PublicKey, algorithms_for_key

__all__ = [
    "ALLOWED_ALGORITHMS",
    "MAX_JSON_DEPTH",
    "MAX_TOKEN_LENGTH",
    "P256_ORDER",
    "TYP",
    "ParsedJws",
    "loads_strict",
    "parse_compact",
    "sign_compact",
    "verify_signature",
]

# EdDSA (RFC 8037) and its fully-specified successor Ed25519 (RFC 9864 §2.2) for Ed25519 keys; ES256 for P-256.
ALLOWED_ALGORITHMS: Final = frozenset({"EdDSA", "Ed25519", "ES256"})
MAX_TOKEN_LENGTH: Final = 64 * 1024
MAX_JSON_DEPTH: Final = strict_json.MAX_DEPTH
TYP: Final = "vc+jwt"

_ACCEPTED_TYP: Final = frozenset({"vc+jwt", "application/vc+jwt"})  # RFC 7515 §4.1.9: prefix optional
_ACCEPTED_CTY: Final = frozenset({"vc", "application/vc"})  # RFC 7515 §4.1.10: prefix optional
# The order n of the P-256 group (SEC 2 §2.4.2). ECDSA accepts (r, s) and (r, n - s) alike; only s <= n/2
# ("low-S", as BIP 62 and libsecp256k1 require) is accepted, so a signed credential has one spelling.
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P256_HALF_ORDER: Final = P256_ORDER // 2
_ES256: Final = ECDSA(hashes.SHA256())
_ES256_PREHASHED: Final = ECDSA(Prehashed(hashes.SHA256()))
_IS_ED25519: dict[type, bool] = {}  # by the key object's concrete class


class ParsedJws(NamedTuple):
    """A compact JWS split and decoded, not yet verified (a tuple: a verify-batch makes a thousand of them)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes
    # The payload's JSON when it is exactly orjson's serialisation of `payload` (a verify answer embeds it as is).
    payload_json: bytes | None = None


# -- strict JSON: the one parser every request body goes through (app.strict_json) ----------------


def loads_strict(raw: bytes, what: str) -> Any:
    """UTF-8 I-JSON: duplicate keys, NaN/Infinity, unsafe integers, lone surrogates, NUL and deep nesting rejected."""
    try:
        return strict_json.loads(raw)
    except strict_json.StrictJsonError as exc:
        raise MalformedJose(f"The {what} is not acceptable JSON ({exc}).") from None
    except strict_json.JsonSyntaxError:
        raise MalformedJose(f"The {what} is not valid UTF-8 JSON.") from None


# -- sign -----------------------------------------------------------------------------------------


def sign_compact(payload: dict[str, Any], private_key: PrivateKey, *, kid: str, alg: str) -> str:
    """Sign `payload` as a compact JWS with header {alg, typ: vc+jwt, cty: vc, kid}."""
    if alg not in ALLOWED_ALGORITHMS:
        raise UnsupportedAlgorithm(f"The algorithm {alg!r} is not allowed.")
    if alg not in algorithms_for_key(private_key):
        raise UnsupportedAlgorithm(f"The algorithm {alg!r} does not match the key type.")
    if not isinstance(kid, str) or not kid:
        raise MalformedJose("A signing key id (kid) is required.")
    if not isinstance(payload, dict):
        raise MalformedJose("The payload must be a JSON object.")
    if "vc" in payload or "vp" in payload:
        raise MalformedJose("VC-JOSE-COSE forbids the 'vc' and 'vp' claims.")
    headers = {"typ": TYP, "cty": "vc", "kid": kid}
    if alg == "Ed25519" and isinstance(private_key, Ed25519PrivateKey):
        # PyJWT 2.x knows Ed25519 only as "EdDSA"; the JWS is the same but for the header's name (RFC 9864 §2.2).
        header = json.dumps({**headers, "alg": alg}, separators=(",", ":"), sort_keys=True).encode()
        body = json.dumps(payload, separators=(",", ":")).encode()
        signing_input = f"{b64url_encode(header)}.{b64url_encode(body)}"
        return f"{signing_input}.{b64url_encode(private_key.sign(signing_input.encode('ascii')))}"
    token = jwt.encode(payload, private_key, algorithm=alg, headers=headers)
    return _with_low_s(token) if alg == "ES256" else token


def _with_low_s(token: str) -> str:
    """The same ES256 token with s replaced by n - s when s is in the upper half (equally valid, canonical)."""
    signing_input, _, signature_b64 = token.rpartition(".")
    signature = b64url_decode(signature_b64)
    s = int.from_bytes(signature[32:], "big")
    if s <= _P256_HALF_ORDER:
        return token
    return f"{signing_input}.{b64url_encode(signature[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"


# -- parse and verify -----------------------------------------------------------------------------


# An issuer's tokens share a few headers; a checked header is a pure function of its bytes, so it is kept.
_HEADERS: dict[bytes, dict[str, Any]] = {}
_MAX_CACHED_HEADERS: Final = 256


def _parse_header(header_b64: bytes) -> dict[str, Any]:
    """Decode and check a JOSE header; JoseError malformed or unsupported_algorithm."""
    header = loads_strict(b64url_decode_segment(header_b64), "JOSE header")
    if not isinstance(header, dict):
        raise MalformedJose("The JOSE header must be a JSON object.")
    # The allow-list comes first, so `alg: none` (with its empty signature) is named for what it is.
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        shown = f"The algorithm {alg!r}" if isinstance(alg, str) and len(alg) <= 20 else "This algorithm"
        raise UnsupportedAlgorithm(f"{shown} is not allowed; only ES256, Ed25519 and EdDSA are.")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP:
        raise MalformedJose("The JOSE header 'typ' must be 'vc+jwt'.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedJose("The JOSE header needs a non-empty 'kid'.")
    # VC-JOSE-COSE §3.1.1: cty, when present, says the payload is a credential ("vc"), not e.g. a presentation.
    if "cty" in header and (not isinstance(header["cty"], str) or header["cty"].lower() not in _ACCEPTED_CTY):
        raise MalformedJose("The JOSE header 'cty' must be 'vc' when present.")
    if "crit" in header:
        raise MalformedJose("Critical JOSE header extensions ('crit') are not supported.")
    if "b64" in header and header["b64"] is not True:
        raise MalformedJose("Unencoded payloads (b64: false) are not supported.")
    return header


def parse_compact(token: object) -> ParsedJws:
    """Split and decode a compact `vc+jwt` JWS strictly; JoseError code malformed or unsupported_algorithm."""
    if not isinstance(token, str):
        raise MalformedJose("A compact JWS must be a string.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedJose("The token is larger than 64 KiB.")
    if not token.isascii():
        raise MalformedJose("The token must be ASCII base64url.")
    data = token.encode("ascii")
    first = data.find(b".")
    second = data.find(b".", first + 1) if first != -1 else -1
    if second == -1 or data.find(b".", second + 1) != -1:
        raise MalformedJose("A compact JWS has exactly three dot-separated parts.")
    if b"=" in data or b"+" in data or b"/" in data:
        raise MalformedJose("The token parts must be base64url without padding.")
    header_b64, payload_b64, signature_b64 = data[:first], data[first + 1 : second], data[second + 1 :]
    header = _HEADERS.get(header_b64)
    if header is None:
        header = _parse_header(header_b64)
        if len(_HEADERS) >= _MAX_CACHED_HEADERS:
            _HEADERS.clear()
        _HEADERS[header_b64] = header
    payload_json = b64url_decode_segment(payload_b64)
    try:
        payload, exact = strict_json.loads_exact(payload_json)
    except strict_json.StrictJsonError as exc:
        raise MalformedJose(f"The payload is not acceptable JSON ({exc}).") from None
    except strict_json.JsonSyntaxError:
        raise MalformedJose("The payload is not valid UTF-8 JSON.") from None
    if not isinstance(payload, dict):
        raise MalformedJose("The JWS payload must be a JSON object.")
    signature = b64url_decode_segment(signature_b64)

    signing_input = data[:second]
    return ParsedJws(header=header, payload=payload, signing_input=signing_input, signature=signature,
                     payload_json=payload_json if exact else None)


_OPEN_BUFFERS = threading.local()


def _ed25519_open(signed: bytes, public_key: bytes) -> None:
    """libsodium's crypto_sign_open (signature || message); BadSignatureError if it does not verify.

    Called through PyNaCl's own cffi module with a buffer kept per thread: nacl.bindings.crypto_sign_open
    allocates and zeroes a message-sized buffer and copies the message back out on every call, ~6 µs of a
    ~110 µs verify that a verify-batch pays a thousand times (measured).
    """
    buffers = getattr(_OPEN_BUFFERS, "buffers", None)
    if buffers is None or len(buffers[0]) < len(signed):
        buffers = _OPEN_BUFFERS.buffers = (_sodium_ffi.new("unsigned char[]", max(len(signed), MAX_TOKEN_LENGTH)),
                                           _sodium_ffi.new("unsigned long long *"))
    if _sodium_lib.crypto_sign_open(buffers[0], buffers[1], signed, len(signed), public_key) != 0:
        raise BadSignatureError("Signature was forged or corrupt")


def verify_signature(parsed: ParsedJws, public_key: PublicKey, signing_input_sha256: bytes | None = None) -> None:
    """Check the signature with the key's own algorithm; raises InvalidSignature.

    signing_input_sha256: SHA-256 of parsed.signing_input when the caller has it already (ES256 then skips
    hashing the ~6 KB again).
    """
    alg = parsed.header.get("alg")
    signature = parsed.signature
    key_type = type(public_key)
    is_ed25519 = _IS_ED25519.get(key_type)
    if is_ed25519 is None:  # isinstance against cryptography's ABCs costs a Python-level call each time
        is_ed25519 = _IS_ED25519[key_type] = isinstance(public_key, Ed25519PublicKey)
    try:
        if is_ed25519:
            if alg not in ED25519_ALGORITHMS:
                raise InvalidSignature("The token's algorithm does not match the issuer's key.")
            if len(signature) != 64:  # RFC 8032 §5.1.6: R || S, 32 bytes each
                raise InvalidSignature("An Ed25519 signature must be 64 bytes.")
            # libsodium (PyNaCl, also PyCA) verifies Ed25519 about 1.4x faster than OpenSSL on credential-sized
            # messages, and strictly: non-canonical S and small-order points are refused (RFC 8032 §5.1.7).
            _ed25519_open(signature + parsed.signing_input, cast(Ed25519PublicKey, public_key).public_bytes_raw())
        elif isinstance(public_key, EllipticCurvePublicKey) and isinstance(public_key.curve, SECP256R1):
            if alg != "ES256":
                raise InvalidSignature("The token's algorithm does not match the issuer's key.")
            if len(signature) != 64:  # RFC 7518 §3.4: R || S, 32 bytes each
                raise InvalidSignature("An ES256 signature must be 64 bytes.")
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            if not 0 < s <= _P256_HALF_ORDER:
                # (r, n - s) is the malleated twin of a valid signature: refused, so each credential has one form.
                raise InvalidSignature("An ES256 signature must be in low-S form (s <= n/2).")
            der = encode_dss_signature(r, s)
            if signing_input_sha256 is None:
                public_key.verify(der, parsed.signing_input, _ES256)
            else:
                public_key.verify(der, signing_input_sha256, _ES256_PREHASHED)
        else:
            raise InvalidSignature("The issuer's key type is not supported.")
    except (crypto_exceptions.InvalidSignature, BadSignatureError):
        raise InvalidSignature("The signature does not match the credential.") from None
    except (ValueError, binascii.Error):
        raise InvalidSignature("The signature could not be checked.") from None
