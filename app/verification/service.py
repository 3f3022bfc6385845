"""Wires the pure verifier to this service's keys, trusted issuers and status lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from anyio import to_thread

from app.credentials import canonical_pool
from app.keys.keystore import FileKeyStore, PublicKey
from app.ops import metrics
from app.verification import verifier as pure
from app.verification.holder import with_holder
from app.verification.verifier import Problem, VerificationResult


class LocalKeyResolver:
    """Trusts this service's own issuer DID (and its former DIDs) and resolves key ids in its keystore.

    A key id is a DID URL `<did>#<thumbprint>` whose DID is ours (the issuer's, or a former DID of ours), a
    relative `#<thumbprint>` (VC-JOSE-COSE: resolved against the issuer), or, for credentials issued before
    kids became DID URLs, the bare thumbprint.
    """

    def __init__(self, keystore: FileKeyStore, issuer_did: str, former_dids: frozenset[str] = frozenset()):
        self.keystore = keystore
        # Credentials issued before `skillproof issuer set-url` name the former DID; the keys are still ours.
        self.trusted = frozenset({issuer_did, *former_dids})

    def __call__(self, issuer: str, key_id: str) -> PublicKey:
        if issuer not in self.trusted:
            raise pure.UntrustedIssuer(f"issuer {issuer} is not trusted by this service")
        owner, hash_sign, fragment = key_id.partition("#")
        if hash_sign and owner and owner not in self.trusted:
            raise pure.UnknownKey(f"the key {key_id[:200]} belongs to another DID than the issuer's")
        key = self.keystore.public_key(fragment if hash_sign else key_id)
        if key is None:
            raise pure.UnknownKey(f"no published key has kid {key_id[:200]}")
        return key


class FormerUrlStatusLookup:
    """Looks up status lists named under a former public URL by the same list id under the current one."""

    def __init__(self, lookup: pure.StatusLookup, base_url: str, former_urls: tuple[str, ...]):
        self.lookup = lookup
        self.current = f"{base_url}/v1/status-lists/"
        self.former = tuple(f"{url}/v1/status-lists/" for url in former_urls if url != base_url)

    def __call__(self, status_list_credential: str, index: int, purpose: str, size: int) -> int:
        for prefix in self.former:
            if status_list_credential.startswith(prefix):
                status_list_credential = self.current + status_list_credential[len(prefix):]
                break
        return self.lookup(status_list_credential, index, purpose, size)


class Verifier:
    """verify(credential) with this service's resolver, status lookup and clock."""

    def __init__(
        self,
        resolve_key: pure.KeyResolver,
        lookup_status: pure.StatusLookup,
        clock: Callable[[], dt.datetime],
        bind: Callable[[], tuple[pure.KeyResolver, pure.StatusLookup]] | None = None,
        inline: bool = False,
    ):
        self.resolve_key = resolve_key
        self.lookup_status = lookup_status
        self.clock = clock
        # With other issuers trusted: a resolver and lookup per call, so status lists follow the key's issuer.
        self.bind = bind
        # True when a vc+jwt verifies in tens of microseconds, status read included (own keys, SQLite): the
        # caller may then verify on the event loop instead of paying a worker-thread round trip.
        self.inline = inline and bind is None
        # Process memory only as a cache: another replica without it reaches the same verdicts.
        self.verified_tokens = pure.VerifiedTokens()

    def runs_inline(self, credential: object) -> bool:
        """Whether verifying `credential` is quick enough for the event loop (not a Data Integrity proof)."""
        return self.inline and not (isinstance(credential, dict) and "proof" in credential)

    def verify(self, credential: object, now: dt.datetime | None = None) -> VerificationResult:
        """The verdict at `now` (default: this verifier's clock; the share page passes the request's clock)."""
        resolve_key, lookup_status = self.bind() if self.bind else (self.resolve_key, self.lookup_status)
        result = pure.verify_credential(
            credential, resolve_key=resolve_key, lookup_status=lookup_status, now=now or self.clock(),
            verified_tokens=self.verified_tokens, data_integrity_hasher=canonical_pool.hash_data,
        )
        metrics.record_verification(metrics.verification_outcome(result.verified, result.errors))
        return result


def malformed(message: str) -> VerificationResult:
    """A verdict for input rejected before the verifier runs."""
    return VerificationResult(
        verified=False, credential=None, checks=[], warnings=[], errors=[Problem("malformed", message)]
    )


def verify_one(verifier: Verifier, credential: object, holder: str | None) -> VerificationResult:
    """The service's verdict on one credential, with the holder check."""
    return with_holder(verifier.verify(credential), holder)


async def verify_result(verifier: Verifier, credential: object, holder: str | None) -> VerificationResult:
    """verify_one on the event loop when that takes microseconds, else in a worker thread (database, RDF)."""
    if verifier.runs_inline(credential):
        return verify_one(verifier, credential, holder)
    return await to_thread.run_sync(verify_one, verifier, credential, holder)
