"""Wires the pure verifier to this service's keys, trusted issuers and status lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from app.keys.keystore import FileKeyStore, PublicKey
from app.ops import metrics
from app.verification import verifier as pure
from app.verification.verifier import Problem, VerificationResult


class LocalKeyResolver:
    """Trusts this service's own issuer DID (and its former DIDs) and resolves kids in its keystore."""

    def __init__(self, keystore: FileKeyStore, issuer_did: str, former_dids: frozenset[str] = frozenset()):
        self.keystore = keystore
        # Credentials issued before `skillproof issuer set-url` name the former DID; the keys are still ours.
        self.trusted = frozenset({issuer_did, *former_dids})

    def __call__(self, issuer: str, kid: str) -> PublicKey:
        if issuer not in self.trusted:
            raise pure.UntrustedIssuer(f"issuer {issuer} is not trusted by this service")
        did, _, fragment = kid.rpartition("#")  # a DID URL (a Data Integrity verificationMethod) or a bare kid
        if did and did not in self.trusted:
            raise pure.UnknownKey(f"the key {kid[:120]} is not one of this issuer's")
        key = self.keystore.public_key(fragment)
        if key is None:
            raise pure.UnknownKey(f"no published key has kid {kid}")
        return key


class FormerUrlStatusLookup:
    """Looks up status lists named under a former public URL by the same list id under the current one."""

    def __init__(self, lookup: pure.StatusLookup, base_url: str, former_urls: tuple[str, ...]):
        self.lookup = lookup
        self.current = f"{base_url}/v1/status-lists/"
        self.former = tuple(f"{url}/v1/status-lists/" for url in former_urls if url != base_url)

    def __call__(self, status_list_credential: str, index: int, purpose: str) -> bool:
        for prefix in self.former:
            if status_list_credential.startswith(prefix):
                status_list_credential = self.current + status_list_credential[len(prefix):]
                break
        return self.lookup(status_list_credential, index, purpose)


class Verifier:
    """verify(credential) with this service's resolver, status lookup and clock."""

    def __init__(
        self,
        resolve_key: pure.KeyResolver,
        lookup_status: pure.StatusLookup,
        clock: Callable[[], dt.datetime],
    ):
        self.resolve_key = resolve_key
        self.lookup_status = lookup_status
        self.clock = clock
        # Process memory only as a cache: another replica without it reaches the same verdicts.
        self.verified_tokens = pure.VerifiedTokens()

    def verify(self, credential: object) -> VerificationResult:
        result = pure.verify_credential(
            credential, resolve_key=self.resolve_key, lookup_status=self.lookup_status, now=self.clock(),
            verified_tokens=self.verified_tokens,
        )
        metrics.record_verification(result.verified, [problem.code for problem in result.errors])
        return result


def malformed(message: str) -> VerificationResult:
    """A verdict for input rejected before the verifier runs."""
    return VerificationResult(
        verified=False, credential=None, checks=[], warnings=[], errors=[Problem("malformed", message)]
    )
