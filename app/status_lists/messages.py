"""Skillproof's one status entry: revocation and suspension as a 2-bit `message` status (Bitstring Status List §2.1).

PURE: no I/O. Value bit 2 is revocation (final), bit 1 suspension (reversible): 0 valid, 1 suspended,
2 revoked, 3 revoked while suspended. A verifier that knows this table reads both from one entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "MESSAGE_PURPOSE",
    "REVOKED",
    "STATUS_MESSAGES",
    "STATUS_SIZE",
    "SUSPENDED",
    "entry",
    "flags",
    "is_skillproof_table",
    "parse_status_messages",
]

MESSAGE_PURPOSE: Final = "message"
STATUS_SIZE: Final = 2
SUSPENDED: Final = 0b01
REVOKED: Final = 0b10
# §2.1 statusMessage: one element per value, `status` the value in hex prefixed 0x; committed to at issuance.
STATUS_MESSAGES: Final = (
    {"status": "0x0", "message": "valid"},
    {"status": "0x1", "message": "suspended"},
    {"status": "0x2", "message": "revoked"},
    {"status": "0x3", "message": "revoked"},
)
_TABLE: Final = {int(item["status"], 16): item["message"] for item in STATUS_MESSAGES}
_STATUS_MESSAGES_AS_PARSED: Final = [dict(item) for item in STATUS_MESSAGES]  # as JSON parses it from a credential
_HEX: Final = re.compile(r"0x[0-9a-fA-F]{1,4}")
_MAX_SIZE: Final = 8


def entry(list_url: str, index: int) -> dict[str, Any]:
    """The credential's `credentialStatus` object for this list and index."""
    return {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": MESSAGE_PURPOSE,
        "statusListIndex": str(index),
        "statusSize": STATUS_SIZE,
        "statusMessage": [dict(item) for item in STATUS_MESSAGES],
        "statusListCredential": list_url,
    }


def flags(value: int) -> dict[str, bool]:
    """{"revoked", "suspended"} of a value in this table."""
    return {"revoked": bool(value & REVOKED), "suspended": bool(value & SUSPENDED)}


def parse_status_messages(raw: object, size: int) -> dict[int, str] | None:
    """{value: message} of a `statusMessage` with exactly 2**size elements, one per value; None if malformed."""
    if not isinstance(raw, list) or size > _MAX_SIZE or len(raw) != 1 << size:
        return None
    if raw == _STATUS_MESSAGES_AS_PARSED:  # every credential of ours: compared in C, the table is known
        return dict(_TABLE)
    table: dict[int, str] = {}
    for item in raw:
        if not isinstance(item, dict):
            return None
        status, message = item.get("status"), item.get("message")
        if not isinstance(status, str) or _HEX.fullmatch(status) is None or not isinstance(message, str):
            return None
        table[int(status, 16)] = message
    return table if set(table) == set(range(1 << size)) else None


def is_skillproof_table(table: Mapping[int, str]) -> bool:
    """Whether a parsed statusMessage is this module's table (extra properties on elements are allowed)."""
    return dict(table) == _TABLE
