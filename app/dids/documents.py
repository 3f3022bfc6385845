"""DID documents of did:key, did:jwk and did:web, reduced to the keys a verifier may use.

PURE: no I/O. did:key and did:jwk documents are derived from the DID itself; for did:web this module gives
the https URL to fetch (did:web §3.2.2 Read) and checks the fetched document (DID Core §5, §7.1).
Only assertionMethod keys are kept: a credential's proof must come from one (VC DI §4.2, DID Core §5.3.2).

DidError
 ├── UnsupportedDid   a DID method other than did:key, did:jwk, did:web
 └── InvalidDid       a malformed DID or document, or a key of a refused type (keys.BadKey)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.credentials import jose
from app.dids import keys

__all__ = [
    "METHODS",
    "DidDocument",
    "DidError",
    "InvalidDid",
    "UnsupportedDid",
    "did_of",
    "document_from_json",
    "resolve_local",
    "web_document_url",
]

METHODS: Final = ("key", "jwk", "web")
MAX_DID_LENGTH: Final = 2000
# DID Core §3.1: did:<method-name>:<method-specific-id>, idchar = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded.
_DID: Final = re.compile(r"did:([a-z0-9]+):((?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2}|:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2}))")
_HOST_LABEL: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PATH_SEGMENT: Final = re.compile(r"[A-Za-z0-9._~-]+")
_JSON_WEB_KEY_TYPES: Final = frozenset({"JsonWebKey", "JsonWebKey2020"})
_MULTIKEY_TYPES: Final = frozenset({"Multikey", "Ed25519VerificationKey2020"})


class DidError(ValueError):
    """A DID that cannot be resolved to keys."""


class UnsupportedDid(DidError):
    """A DID method this service does not resolve."""


class InvalidDid(DidError):
    """A malformed DID or DID document, or one holding a refused key."""


@dataclass(frozen=True)
class DidDocument:
    """A DID and its assertionMethod keys by absolute verification method id."""

    did: str
    keys: dict[str, jose.PublicKey] = field(default_factory=dict)

    def key(self, method_id: str) -> jose.PublicKey | None:
        """The key of a verification method id (absolute `did#frag`, or relative `#frag`)."""
        absolute = self.did + method_id if method_id.startswith("#") else method_id
        return self.keys.get(absolute)


def did_of(did_url: str) -> str:
    """The DID of a DID URL (the part before `#`, `?` or `/` path)."""
    base = did_url.split("#", 1)[0].split("?", 1)[0]
    return base.split("/", 1)[0]


def _split(did: str) -> tuple[str, str]:
    if not isinstance(did, str) or len(did) > MAX_DID_LENGTH:
        raise InvalidDid("A DID is a string of at most 2000 characters.")
    match = _DID.fullmatch(did)
    if match is None:
        raise InvalidDid("Not a DID (did:<method>:<id>, DID Core §3.1).")
    method, specific = match.group(1), match.group(2)
    if method not in METHODS:
        raise UnsupportedDid(f"The DID method {method[:20]!r} is not supported; use did:key, did:jwk or did:web.")
    return method, specific


def _key_document(did: str, specific: str) -> DidDocument:
    # did:key §3.1.1: the fragment of the one verification method is the multibase value itself.
    try:
        key = keys.key_from_multikey(specific)
    except keys.BadKey as exc:
        raise InvalidDid(f"did:key: {exc}") from None
    return DidDocument(did, {f"{did}#{specific}": key})


def _jwk_document(did: str, specific: str) -> DidDocument:
    # did:jwk spec §2.2: base64url (no padding) of the UTF-8 JSON JWK; the method is `#0`.
    try:
        jwk = jose.loads_strict(jose.b64url_decode(specific), "did:jwk JWK")
    except jose.JoseError:
        raise InvalidDid("did:jwk: the identifier is not base64url of a JSON JWK.") from None
    if not isinstance(jwk, dict):
        raise InvalidDid("did:jwk: the identifier is not a JSON object.")
    if jwk.get("use") == "enc":
        raise InvalidDid("did:jwk: an encryption key (use: enc) cannot sign.")
    try:
        key = keys.key_from_jwk(jwk)
    except keys.BadKey as exc:
        raise InvalidDid(f"did:jwk: {exc}") from None
    return DidDocument(did, {f"{did}#0": key})


def resolve_local(did: str) -> DidDocument:
    """The document of a did:key or did:jwk (no I/O); UnsupportedDid for did:web and others."""
    method, specific = _split(did)
    if method == "key":
        return _key_document(did, specific)
    if method == "jwk":
        return _jwk_document(did, specific)
    raise UnsupportedDid("did:web needs a fetch (web_document_url).")


def web_document_url(did: str) -> str:
    """did:web §3.2.2 Read: did:web:host[%3Aport][:path...] -> https://host[:port]/(path/did.json|.well-known/did.json)."""
    method, specific = _split(did)
    if method != "web":
        raise UnsupportedDid("Not a did:web.")
    host_part, *path = specific.split(":")
    host_port = unquote(host_part)  # the port's ':' is percent-encoded
    host, _, port = host_port.partition(":")
    host = host.lower()
    if not host or len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")):
        raise InvalidDid("did:web: the host must be a DNS name (did:web forbids IP addresses).")
    if host.rsplit(".", 1)[-1].isdigit():
        raise InvalidDid("did:web: the host must be a DNS name, not an IP address.")
    if port and (not port.isdigit() or not 0 < int(port) < 65536 or port.startswith("0")):
        raise InvalidDid("did:web: the port is not a number from 1 to 65535.")
    segments = [unquote(segment) for segment in path]
    if any(not _PATH_SEGMENT.fullmatch(segment) or segment in (".", "..") for segment in segments):
        raise InvalidDid("did:web: a path segment holds characters outside letters, digits and -._~.")
    authority = f"{host}:{port}" if port else host
    suffix = "/".join(segments) + "/did.json" if segments else ".well-known/did.json"
    return f"https://{authority}/{suffix}"


def _method_key(method: dict[str, Any]) -> jose.PublicKey:
    kind = method.get("type")
    try:
        if kind in _JSON_WEB_KEY_TYPES and "publicKeyJwk" in method:
            return keys.key_from_jwk(method["publicKeyJwk"])
        if kind in _MULTIKEY_TYPES and "publicKeyMultibase" in method:
            key = keys.key_from_multikey(method["publicKeyMultibase"])
            if kind == "Ed25519VerificationKey2020" and not isinstance(key, Ed25519PublicKey):
                raise keys.BadKey("An Ed25519VerificationKey2020 must hold an Ed25519 key.")
            return key
    except keys.BadKey as exc:
        raise InvalidDid(str(exc)) from None
    raise InvalidDid("A verification method must be a JsonWebKey (publicKeyJwk) or Multikey (publicKeyMultibase).")


def document_from_json(did: str, raw: bytes) -> DidDocument:
    """Check a fetched did:web document: JSON object, `id` equal to the DID, assertionMethod keys usable.

    A method whose key type is refused is skipped (another may still verify); one that is referenced
    but never defined, or a document without any usable assertion key, is InvalidDid.
    """
    try:
        document = jose.loads_strict(raw, "DID document")
    except jose.JoseError as exc:
        raise InvalidDid(exc.message) from None
    if not isinstance(document, dict):
        raise InvalidDid("The DID document is not a JSON object.")
    if document.get("id") != did:
        raise InvalidDid("The DID document's id is not the DID that was resolved (DID Core §7.1.2).")
    defined: dict[str, dict[str, Any]] = {}
    raw_methods = document.get("verificationMethod", [])
    if not isinstance(raw_methods, list):
        raise InvalidDid("verificationMethod must be a list.")
    assertion = document.get("assertionMethod", [])
    if not isinstance(assertion, list):
        raise InvalidDid("assertionMethod must be a list.")

    def absolute(method_id: object) -> str:
        if not isinstance(method_id, str) or not method_id:
            raise InvalidDid("A verification method id must be a non-empty string.")
        return did + method_id if method_id.startswith("#") else method_id

    for method in raw_methods:
        if not isinstance(method, dict):
            raise InvalidDid("A verification method must be an object.")
        defined[absolute(method.get("id"))] = method
    found: dict[str, jose.PublicKey] = {}
    for reference in assertion:
        if isinstance(reference, dict):  # an embedded verification method
            method_id, method = absolute(reference.get("id")), reference
        else:
            method_id = absolute(reference)
            method = defined.get(method_id, {})
            if not method:
                raise InvalidDid(f"assertionMethod names {method_id[:100]} but the document does not define it.")
        if did_of(method_id) != did or method.get("controller", did) != did:
            continue  # another DID's key: not this issuer's to assert with
        try:
            found[method_id] = _method_key(method)
        except InvalidDid:
            continue
    if not found:
        raise InvalidDid("The DID document has no usable assertionMethod key (Ed25519 or P-256).")
    return DidDocument(did, found)

