"""The JWT claims of a `vc+jwt` credential (Open Badges 3.0 §8.2.4.1, VC-JOSE-COSE §3.1.2) and their checks.

Open Badges 3.0 asks for `iss` = issuer.id, `jti` = id, `sub` = credentialSubject.id, `nbf` = validFrom and,
when validUntil is set, `exp` = validUntil; it asks for no `iat`, so none is added. VC-JOSE-COSE §3.1.2 calls
`nbf` NOT RECOMMENDED but allows it, and says these claims SHOULD NOT conflict with the credential: a
verifier here treats any conflict as an invalid credential, while tokens without them (issued before) pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from app.credentials.jose.errors import MalformedJose

__all__ = ["claim_conflicts", "claims_for", "numeric_date"]

# A NumericDate may drop the fraction of a second of its dateTime (RFC 7519 §2 allows either form).
_DATE_TOLERANCE_SECONDS: Final = 1.0


def numeric_date(moment: datetime) -> int | float:
    """RFC 7519 §2 NumericDate of an aware datetime: whole seconds as an integer, else a float."""
    if moment.tzinfo is None:
        raise ValueError("a NumericDate needs an aware datetime")
    seconds = moment.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _date_claim(credential: dict[str, Any], name: str) -> int | float | None:
    value = credential.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedJose(f"The credential's {name} must be a dateTimeStamp string.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedJose(f"The credential's {name} is not a dateTimeStamp.") from None
    if moment.tzinfo is None:
        raise MalformedJose(f"The credential's {name} has no time zone.")
    return numeric_date(moment)


def _subject_id(credential: dict[str, Any]) -> str | None:
    subject = credential.get("credentialSubject")
    subject_id = subject.get("id") if isinstance(subject, dict) else None
    return subject_id if isinstance(subject_id, str) and subject_id else None


def claims_for(credential: dict[str, Any]) -> dict[str, Any]:
    """The JWT claims set of a credential: the credential itself plus iss, jti, sub, nbf and exp from its data."""
    issuer = credential.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str) or not issuer_id:
        raise MalformedJose("The credential has no issuer id.")
    claims: dict[str, Any] = {**credential, "iss": issuer_id}
    if isinstance(credential.get("id"), str):
        claims["jti"] = credential["id"]
    subject_id = _subject_id(credential)
    if subject_id is not None:
        claims["sub"] = subject_id
    valid_from, valid_until = _date_claim(credential, "validFrom"), _date_claim(credential, "validUntil")
    if valid_from is not None:
        claims["nbf"] = valid_from
    if valid_until is not None:
        claims["exp"] = valid_until
    return claims


def _same_moment(claim: object, moment: datetime) -> bool:
    if not isinstance(claim, int | float) or isinstance(claim, bool):
        return False
    return abs(float(claim) - moment.timestamp()) < _DATE_TOLERANCE_SECONDS


def claim_conflicts(
    payload: dict[str, Any], valid_from: datetime | None, valid_until: datetime | None
) -> list[str]:
    """Sentences naming each of jti, sub, nbf, exp that is present and disagrees with the credential."""
    problems: list[str] = []
    if "jti" in payload and payload["jti"] != payload.get("id"):
        problems.append("The JWT 'jti' differs from the credential id.")
    if "sub" in payload and payload["sub"] != _subject_id(payload):
        problems.append("The JWT 'sub' differs from credentialSubject.id.")
    if "nbf" in payload and valid_from is not None and not _same_moment(payload["nbf"], valid_from):
        problems.append("The JWT 'nbf' differs from validFrom.")
    if "exp" in payload and valid_until is not None and not _same_moment(payload["exp"], valid_until):
        problems.append("The JWT 'exp' differs from validUntil.")
    return problems
