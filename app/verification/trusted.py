"""Other issuers: the trust list (SKILLPROOF_TRUSTED_ISSUERS), their keys by DID and their status lists.

Our own DIDs resolve in our keystore and our lists in our database, as before; a DID in the trust list
resolves through app.dids (did:key and did:jwk locally, did:web through the SSRF-safe fetcher); any other
issuer is `untrusted_issuer`. Each verification binds its status lookups to the issuer its key was
resolved for, so a status list counts only when that same issuer signed it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from app.config import Settings
from app.credentials import jose
from app.dids import documents
from app.net.fetch import Fetched, Fetcher, FetchError, parse_allowed_addresses
from app.status_lists import bitstring
from app.verification.errors import StatusUnavailable, UnknownKey, UntrustedIssuer
from app.verification.service import LocalKeyResolver
from app.verification.verifier import KeyResolver, PublicKey, StatusLookup, parse_datetime_stamp

__all__ = ["DidResolver", "IssuerRouter", "RemoteStatusLookup", "parse_trusted_issuers", "router"]

STATUS_LIST_ACCEPT: Final = "application/vc+jwt"
DID_ACCEPT: Final = "application/did+json, application/did+ld+json;q=0.9, application/json;q=0.8"
_MIN_TTL: Final = 30.0
_MAX_TTL: Final = 3600.0


def parse_trusted_issuers(value: str) -> frozenset[str]:
    """`did:web:a.example,did:key:z6Mk...` -> the DIDs; ValueError naming the first one that is not usable."""
    trusted = set()
    for did in filter(None, (part.strip() for part in value.split(","))):
        try:
            if did.startswith("did:web:"):
                documents.web_document_url(did)
            else:
                documents.resolve_local(did)
        except documents.DidError as exc:
            raise ValueError(f"{did[:80]}: {exc}") from None
        trusted.add(did)
    return frozenset(trusted)


class DidResolver:
    """DID -> DidDocument: did:key/did:jwk derived (and kept), did:web fetched and kept while fresh.

    The same key objects come back while a document is fresh, so the verifier's token cache (which
    recognises a key by identity) keeps working for other issuers too.
    """

    def __init__(self, fetcher: Fetcher, max_entries: int = 256):
        self.fetcher = fetcher
        self.max_entries = max_entries
        self._documents: OrderedDict[str, tuple[Fetched | None, documents.DidDocument]] = OrderedDict()
        self._lock = threading.Lock()

    def document(self, did: str) -> documents.DidDocument:
        """The DID's document; documents.DidError or FetchError when it cannot be resolved."""
        with self._lock:
            known = self._documents.get(did)
        if known is not None and known[0] is None:
            return known[1]
        if did.startswith("did:web:"):
            fetched = self.fetcher.get(documents.web_document_url(did), accept=DID_ACCEPT)
            if known is not None and known[0] is fetched:  # the fetcher's cached answer: parsed already
                return known[1]
            document = documents.document_from_json(did, fetched.body)
            entry: tuple[Fetched | None, documents.DidDocument] = (fetched, document)
        else:
            document = documents.resolve_local(did)
            entry = (None, document)
        with self._lock:
            self._documents[did] = entry
            self._documents.move_to_end(did)
            while len(self._documents) > self.max_entries:
                self._documents.popitem(last=False)
        return document

    def key(self, issuer: str, key_id: str) -> PublicKey:
        """The issuer's assertion key named by key_id (a DID URL of the issuer, `#frag`, or a bare fragment)."""
        if key_id.startswith("did:"):
            if documents.did_of(key_id) != issuer:
                raise UnknownKey("The kid names another DID's key, not the issuer's.")
            method_id = key_id
        else:
            method_id = f"{issuer}{key_id}" if key_id.startswith("#") else f"{issuer}#{key_id}"
        try:
            document = self.document(issuer)
        except (documents.DidError, FetchError) as exc:
            raise UntrustedIssuer(f"The issuer {issuer[:100]} could not be resolved: {exc}") from None
        key = document.key(method_id)
        if key is None:
            raise UnknownKey(f"{issuer[:100]} has no assertion key {method_id[-80:]}.")
        return key


@dataclass(frozen=True)
class _StatusList:
    issuer: str
    purposes: frozenset[str]
    bits: bytes
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    expires: float  # time.monotonic() after which it is fetched again


def _types(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


class RemoteStatusLookup:
    """Reads another issuer's Bitstring Status List (vc+jwt), verified with that issuer's key, kept for its ttl."""

    def __init__(self, fetcher: Fetcher, resolve_key: KeyResolver, clock: Callable[[], dt.datetime]):
        self.fetcher = fetcher
        self.resolve_key = resolve_key
        self.clock = clock
        self._lists: OrderedDict[str, _StatusList] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, status_list_credential: str, index: int, purpose: str, size: int, issuer: str) -> int:
        """The entry's value (`size` bits at index * size), read from issuer's list; StatusUnavailable otherwise."""
        status_list = self._list(status_list_credential)
        if status_list.issuer != issuer:
            raise StatusUnavailable("The status list was signed by another issuer than the credential's.")
        if purpose not in status_list.purposes:
            raise StatusUnavailable(f"The status list is not a {purpose[:40]} list.")
        now = self.clock()
        if status_list.valid_from is not None and status_list.valid_from > now:
            raise StatusUnavailable("The status list is not valid yet.")
        if status_list.valid_until is not None and status_list.valid_until < now:
            raise StatusUnavailable("The status list has expired (validUntil).")
        first, total = index * size, len(status_list.bits) * 8
        if size < 1 or first + size > total:
            # Bitstring Status List §3.2 step 10: a RANGE_ERROR.
            raise StatusUnavailable(f"Index {index} is outside the status list of {total // size} entries.")
        value = 0
        for position in range(first, first + size):
            value = (value << 1) | bitstring.is_set(status_list.bits, position)
        return value

    def _list(self, url: str) -> _StatusList:
        with self._lock:
            known = self._lists.get(url)
        if known is not None and known.expires > time.monotonic():
            return known
        try:
            fetched = self.fetcher.get(url, accept=STATUS_LIST_ACCEPT, fresh=True)
        except FetchError as exc:
            raise StatusUnavailable(f"The status list could not be fetched: {exc}") from None
        status_list = self._verify(fetched)
        with self._lock:
            self._lists[url] = status_list
            self._lists.move_to_end(url)
            while len(self._lists) > 256:
                self._lists.popitem(last=False)
        return status_list

    def _verify(self, fetched: Fetched) -> _StatusList:
        """Bitstring Status List §3.2 steps 1-9 for a vc+jwt list: signature, issuer, type, purpose, bitstring."""
        try:
            parsed = jose.parse_compact(fetched.body.strip().decode("ascii"))
        except (UnicodeDecodeError, jose.JoseError):
            raise StatusUnavailable("The status list is not a vc+jwt compact JWS.") from None
        payload: dict[str, Any] = parsed.payload
        issuer = payload.get("issuer")
        issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
        if not isinstance(issuer, str) or ("iss" in payload and payload["iss"] != issuer):
            raise StatusUnavailable("The status list has no issuer, or its 'iss' differs from it.")
        try:
            key = self.resolve_key(issuer, parsed.header["kid"])
            jose.verify_signature(parsed, key)
        except (UntrustedIssuer, UnknownKey, jose.JoseError) as exc:
            raise StatusUnavailable(f"The status list does not verify: {exc}") from None
        subject = payload.get("credentialSubject")
        if "BitstringStatusListCredential" not in _types(payload.get("type")) or not isinstance(subject, dict) \
                or "BitstringStatusList" not in _types(subject.get("type")):
            raise StatusUnavailable("The document is not a BitstringStatusListCredential.")
        purposes = frozenset(_types(subject.get("statusPurpose")))
        try:
            bits = bitstring.decode(subject.get("encodedList"))  # type: ignore[arg-type]  # checked inside
        except ValueError as exc:
            raise StatusUnavailable(f"The status list's encodedList is not usable: {exc}") from None
        valid_from = parse_datetime_stamp(payload["validFrom"]) if "validFrom" in payload else None
        valid_until = parse_datetime_stamp(payload["validUntil"]) if "validUntil" in payload else None
        if ("validFrom" in payload and valid_from is None) or ("validUntil" in payload and valid_until is None):
            raise StatusUnavailable("The status list's validFrom/validUntil is not a dateTimeStamp.")
        # §2.2 `ttl`: milliseconds the list may be cached; HTTP max-age bounds it too. Within [30 s, 1 h].
        ttl_ms = subject.get("ttl")
        seconds = fetched.ttl
        if isinstance(ttl_ms, int) and not isinstance(ttl_ms, bool) and ttl_ms >= 0:
            seconds = min(seconds, ttl_ms / 1000)
        seconds = min(max(seconds, _MIN_TTL), _MAX_TTL)
        return _StatusList(issuer, purposes, bits, valid_from, valid_until, time.monotonic() + seconds)


class IssuerRouter:
    """Our own issuer to our keystore and database; trusted DIDs to their documents and lists; others refused."""

    def __init__(
        self,
        *,
        local_resolver: KeyResolver,
        local_lookup: StatusLookup,
        own_dids: frozenset[str],
        trusted: frozenset[str],
        fetcher: Fetcher,
        clock: Callable[[], dt.datetime],
    ):
        self.local_resolver = local_resolver
        self.local_lookup = local_lookup
        self.own_dids = own_dids
        self.trusted = trusted - own_dids
        self.dids = DidResolver(fetcher)
        self.remote_lookup = RemoteStatusLookup(fetcher, self.resolve_key, clock)

    def resolve_key(self, issuer: str, key_id: str) -> PublicKey:
        """KeyResolver: our keystore for our DIDs, the DID document for trusted ones, else UntrustedIssuer."""
        if issuer in self.trusted:
            return self.dids.key(issuer, key_id)
        return self.local_resolver(issuer, key_id)

    def bind(self) -> tuple[KeyResolver, StatusLookup]:
        """A resolver and status lookup for one verification: lookups go to the issuer the key came from."""
        issuer_of_call: list[str] = []

        def resolve_key(issuer: str, key_id: str) -> PublicKey:
            key = self.resolve_key(issuer, key_id)
            issuer_of_call.append(issuer)
            return key

        def lookup_status(status_list_credential: str, index: int, purpose: str, size: int) -> int:
            issuer = issuer_of_call[-1] if issuer_of_call else None
            if issuer is None or issuer not in self.trusted:
                return self.local_lookup(status_list_credential, index, purpose, size)
            return self.remote_lookup(status_list_credential, index, purpose, size, issuer)

        return resolve_key, lookup_status


def router(
    settings: Settings,
    local_resolver: LocalKeyResolver,
    local_lookup: StatusLookup,
    clock: Callable[[], dt.datetime],
) -> Callable[[], tuple[KeyResolver, StatusLookup]] | None:
    """The per-call binder for Verifier when SKILLPROOF_TRUSTED_ISSUERS is set; None (our issuer only) otherwise."""
    trusted = parse_trusted_issuers(settings.trusted_issuers)
    if not trusted:
        return None
    fetcher = Fetcher(
        allow_http=settings.allow_http_fetch,
        allowed_addresses=parse_allowed_addresses(settings.fetch_allow_addresses),
        ca_bundle=settings.fetch_ca_bundle,
    )
    return IssuerRouter(
        local_resolver=local_resolver, local_lookup=local_lookup, own_dids=local_resolver.trusted,
        trusted=trusted, fetcher=fetcher, clock=clock,
    ).bind
