"""Pure: what the verify page shows for a verdict, in plain words; no I/O, no clock.

Each check is one line a person reads: what was checked, the answer (passed, failed, could not be checked,
not asked) and why. The words come from the verifier's error codes; the verifier's own message is kept as
the detail, never shown alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from app.pages import view
from app.verification.holder import HOLDER_CHECK, HOLDER_MISMATCH
from app.verification.verifier import Problem, VerificationResult

# A check's state: its CSS class and the word shown beside the colour.
STATE_WORDS = {"ok": "Passed", "fail": "Failed", "unknown": "Could not be checked", "none": "Not asked"}


@dataclass(frozen=True)
class Check:
    """One explained check: `key` names it (issuer, signature, format, dates, status, holder)."""

    key: str
    title: str
    state: str  # ok, fail, unknown, none
    answer: str
    explanation: str

    @property
    def state_word(self) -> str:
        return STATE_WORDS[self.state]


@dataclass(frozen=True)
class Verdict:
    """The answer on top: `key` is valid, revoked, suspended, expired, not_yet_valid, holder_mismatch or invalid."""

    key: str
    label: str
    explanation: str


@dataclass(frozen=True)
class Details:
    """What a credential whose signature holds says about itself (None for one that did not verify that far)."""

    achievement: str
    skill: str
    level: str
    learner_name: str | None
    mastery: str | None
    description: str
    credential_id: str


@dataclass(frozen=True)
class VerifyAnswer:
    verdict: Verdict
    checks: list[Check]
    details: Details | None
    problems: list[tuple[str, str]]  # (plain words, the verifier's message) of every error
    warnings: list[str]
    source: str  # what was checked: "the pasted text", "the share page …", "the uploaded PNG badge"


# The plain words of each error code (CONTRACT.md error codes of POST /v1/credentials/verify).
ERROR_WORDS: dict[str, str] = {
    "malformed": "The text is not a credential we can read (not a signed JWT, or not a credential with a proof).",
    "unsupported_algorithm": "The credential is signed with an algorithm we do not accept.",
    "invalid_signature": "The signature does not hold: the credential was changed after it was signed, or it was "
                         "not signed by the issuer's key.",
    "unknown_key": "The issuer publishes no key with the name this credential gives, so its signature cannot be "
                   "checked.",
    "untrusted_issuer": "The issuer is neither us nor on our list of trusted issuers, so we cannot vouch for it.",
    "invalid_credential": "The credential does not follow the Open Badges 3.0 rules.",
    "expired": "The credential has expired.",
    "not_yet_valid": "The credential is not valid yet.",
    "revoked": "The issuer has revoked this credential.",
    "suspended": "The issuer has suspended this credential.",
    "status_unavailable": "We could not read the issuer's status list, so we cannot tell whether it was revoked.",
    HOLDER_MISMATCH: "The credential was not issued to the person you named.",
}

_VERDICTS = (
    ("revoked", "Revoked", "The issuer has revoked this credential for good. It no longer certifies anything."),
    ("suspended", "Suspended", "The issuer has suspended this credential. It does not count while suspended; the "
                               "issuer may reinstate it."),
    ("expired", "Expired", "The credential is genuine, but its validity period has ended."),
    ("not_yet_valid", "Not yet valid", "The credential's validity period has not begun."),
    (HOLDER_MISMATCH, "Not this person's", "The credential may be genuine, but it was not issued to the person you "
                                          "named."),
)


def words_for(code: str) -> str:
    return ERROR_WORDS.get(code, "The credential did not verify.")


def verdict(result: VerificationResult) -> Verdict:
    """The verdict in words; the most serious finding wins, and anything unproven is not valid."""
    if result.verified:
        return Verdict("valid", "Valid", "The issuer's signature holds, the credential is within its validity "
                                         "period, and the issuer has neither revoked nor suspended it.")
    codes = {problem.code for problem in result.errors}
    signed = "signature" in result.checks
    if signed:
        for code, label, explanation in _VERDICTS:
            if code in codes:
                return Verdict(code, label, explanation)
    return Verdict("invalid", "Not valid", "This credential could not be verified: see the checks below.")


def _has(errors: list[Problem], *codes: str) -> Problem | None:
    return next((problem for problem in errors if problem.code in codes), None)


def _issuer_of(claims: dict[str, Any] | None) -> tuple[str, str]:
    issuer = (claims or {}).get("issuer")
    if isinstance(issuer, dict):
        return str(issuer.get("id") or ""), str(issuer.get("name") or "")
    return (issuer if isinstance(issuer, str) else ""), ""


def _date(value: dt.datetime | None) -> str:
    return value.strftime("%d %B %Y, %H:%M UTC") if value else ""


def checks(
    result: VerificationResult, *, claims: dict[str, Any] | None, own_dids: frozenset[str],
    trusted_dids: frozenset[str], holder: str | None, now: dt.datetime,
) -> list[Check]:
    """The checks in the order a person asks them. `claims` is what the credential says (unproven unless
    the signature holds); `holder` is the email or DID typed, if any."""
    errors, done = result.errors, set(result.checks)
    signed = "signature" in done
    issuer_did, issuer_name = _issuer_of(result.credential or claims)
    who = f"{issuer_name} ({issuer_did})" if issuer_name and issuer_did else issuer_name or issuer_did or "unknown"
    out: list[Check] = []

    # Who issued it, and whether we trust them.
    if _has(errors, "untrusted_issuer"):
        out.append(Check("issuer", "Issuer", "fail", f"Not trusted: {who}",
                         "This issuer is neither this service nor on its list of trusted issuers. Anyone can make "
                         "a credential that names any issuer; only a trusted issuer's signature means something."))
    elif issuer_did in own_dids and "issuer" in done:
        out.append(Check("issuer", "Issuer", "ok", f"{who}: this service",
                         "We issued this credential ourselves; its keys are our own published keys."))
    elif issuer_did in trusted_dids and "issuer" in done:
        out.append(Check("issuer", "Issuer", "ok", f"{who}: on our trust list",
                         "Another issuer this service is configured to trust; its keys come from its DID "
                         "document."))
    else:
        out.append(Check("issuer", "Issuer", "unknown", f"Not established: {who}",
                         "The credential could not be read far enough to tell who issued it."))

    # Whether the signature holds.
    stop = _has(errors, "invalid_signature", "unknown_key", "unsupported_algorithm", "malformed", "untrusted_issuer")
    if signed:
        out.append(Check("signature", "Signature", "ok", "The signature holds",
                         "The credential is exactly as the issuer signed it: not one character has changed."))
    elif stop is not None and stop.code == "invalid_signature":
        out.append(Check("signature", "Signature", "fail", "The signature does not hold", words_for(stop.code)))
    elif stop is not None and stop.code in ("unknown_key", "unsupported_algorithm", "malformed"):
        out.append(Check("signature", "Signature", "fail", "The signature cannot be checked", words_for(stop.code)))
    else:
        out.append(Check("signature", "Signature", "unknown", "Not checked",
                         "Without a trusted issuer there is no key to check the signature against."))

    # Dates.
    document = result.credential if signed else None
    issued = view.parse_timestamp((document or {}).get("validFrom"))
    expires = view.parse_timestamp((document or {}).get("validUntil"))
    if document is None:
        out.append(Check("dates", "Dates", "unknown", "Not checked",
                         "Dates are only read from a credential whose signature holds."))
    else:
        until = f"Expires {_date(expires)}." if expires else "Does not expire."
        since = f"Issued and valid from {_date(issued)}." if issued else "No issue date is given."
        if _has(errors, "expired"):
            out.append(Check("dates", "Dates", "fail", f"Expired on {_date(expires)}" if expires else "Expired",
                             f"{since} The validity period ended before today ({_date(now)})."))
        elif _has(errors, "not_yet_valid"):
            out.append(Check("dates", "Dates", "fail", f"Not valid before {_date(issued)}" if issued else
                             "Not valid yet", f"{since} {until}"))
        else:
            out.append(Check("dates", "Dates", "ok", "Within its validity period", f"{since} {until}"))

    # Format (Open Badges 3.0 rules).
    invalid = [problem for problem in errors if problem.code == "invalid_credential"]
    if document is not None:
        if invalid:
            out.append(Check("format", "Format", "fail", "Does not follow the Open Badges 3.0 rules",
                             " ".join(problem.message for problem in invalid)))
        else:
            out.append(Check("format", "Format", "ok", "A well-formed Open Badges 3.0 credential",
                             "It has everything an Open Badge must have (issuer, achievement, dates, status)."))

    # Status: revoked, suspended, or could not be checked.
    if document is None:
        out.append(Check("status", "Status", "unknown", "Not checked",
                         "The issuer's status list is only read for a credential whose signature holds."))
    elif _has(errors, "revoked"):
        out.append(Check("status", "Status", "fail", "Revoked", "The issuer has revoked this credential for good."))
    elif _has(errors, "suspended"):
        out.append(Check("status", "Status", "fail", "Suspended",
                         "The issuer has suspended this credential; it may be reinstated later."))
    elif {"status:revocation", "status:suspension"} <= done:
        out.append(Check("status", "Status", "ok", "Valid: neither revoked nor suspended",
                         "Read from the issuer's status list just now."))
    else:
        unavailable = _has(errors, "status_unavailable")
        out.append(Check("status", "Status", "unknown", "Could not be checked",
                         unavailable.message if unavailable else "The credential names no status list we can read."))

    # The holder.
    if holder is None:
        out.append(Check("holder", "Holder", "none", "No email address was typed",
                         "Type the email address (or DID) of the person who gave you the credential to check that "
                         "it was issued to them."))
    elif HOLDER_CHECK in done:
        out.append(Check("holder", "Holder", "ok", f"Matches {holder}",
                         "The credential was issued to this person (it holds their email address, hashed, or "
                         "their DID)."))
    elif _has(errors, HOLDER_MISMATCH):
        mismatch = _has(errors, HOLDER_MISMATCH)
        out.append(Check("holder", "Holder", "fail", f"Does not match {holder}",
                         mismatch.message if mismatch else words_for(HOLDER_MISMATCH)))
    else:
        out.append(Check("holder", "Holder", "unknown", "Not checked",
                         "Who the credential was issued to is only read from a credential whose signature holds."))
    return out


def details(result: VerificationResult, learner_name: str | None = None) -> Details | None:
    """What the credential says, once its signature holds (the learner's name from the credential, else the one
    its share page shows)."""
    document = result.credential
    if document is None or "signature" not in result.checks:
        return None
    achievement = view.achievement_of(document)
    _, skill, level = view.skill_and_level(document)
    subject = document.get("credentialSubject")
    name = subject.get("name") if isinstance(subject, dict) else None
    return Details(
        achievement=str(achievement.get("name") or skill),
        skill=skill,
        level=level,
        learner_name=name if isinstance(name, str) and name else learner_name,
        mastery=view.mastery_of(document),
        description=str(achievement.get("description") or ""),
        credential_id=str(document.get("id") or ""),
    )


def answer(
    result: VerificationResult, *, claims: dict[str, Any] | None, own_dids: frozenset[str],
    trusted_dids: frozenset[str], holder: str | None, now: dt.datetime, source: str, learner_name: str | None = None,
) -> VerifyAnswer:
    """Everything the result part of the verify page renders."""
    return VerifyAnswer(
        verdict=verdict(result),
        checks=checks(result, claims=claims, own_dids=own_dids, trusted_dids=trusted_dids, holder=holder, now=now),
        details=details(result, learner_name),
        problems=[(words_for(problem.code), problem.message) for problem in result.errors],
        warnings=[problem.message for problem in result.warnings],
        source=source,
    )
