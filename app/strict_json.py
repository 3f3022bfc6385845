"""Strict JSON for every request body (I-JSON, RFC 7493): one parser, and the ASGI middleware that applies it.

Refused: invalid UTF-8, NaN and ±Infinity (also as 1e400), integers beyond ±(2^53 - 1) (I-JSON §2.2: they
lose precision in most parsers and RFC 8785 cannot canonicalise them), lone surrogates (§2.1: they cannot be
re-encoded as UTF-8), the NUL character (PostgreSQL text cannot hold it), nesting deeper than MAX_DEPTH and,
unless asked otherwise, duplicate object keys (§2.3). Plain syntax errors are left to the route, which
already answers them with 422.
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, Final
from urllib.parse import unquote_to_bytes

import orjson
from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge
from app.ops.responses import send_json_error

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "DuplicateKeyError",
    "DuplicateKeysDict",
    "JsonSyntaxError",
    "StrictJsonBodies",
    "StrictJsonError",
    "has_duplicate_keys",
    "loads",
    "loads_exact",
]

MAX_DEPTH: Final = 64
MAX_SAFE_INTEGER: Final = 2**53 - 1
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_NUL_ESCAPE: Final = b"\\u0000"
# Form posts and uploads are not JSON: left to their routes.
_NOT_JSON_TYPES: Final = ("multipart/", "application/x-www-form-urlencoded")
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_INLINE_PARSE_BYTES: Final = 64 * 1024


class StrictJsonError(ValueError):
    """A rule beyond the JSON grammar; the message is fixed, never derived from the input."""


class JsonSyntaxError(ValueError):
    """Not JSON at all (the route answers it in its own words)."""


class DuplicateKeyError(StrictJsonError):
    """An object repeats a key (I-JSON §2.3)."""


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise DuplicateKeyError("duplicate keys")
    return result


def _reject_constant(name: str) -> Any:
    raise StrictJsonError("NaN or Infinity")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e400
        raise StrictJsonError("a number out of range")
    return value


def _safe_int(text: str) -> int:
    # Length first: int() of thousands of digits is slow (and refused past 4300 digits).
    if len(text) > 17:
        raise StrictJsonError(f"an integer beyond ±{MAX_SAFE_INTEGER}")
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise StrictJsonError(f"an integer beyond ±{MAX_SAFE_INTEGER}")
    return value


_STRICT: Final = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant, parse_float=_finite_float,
    parse_int=_safe_int,
)
_DUPLICATES_KEPT: Final = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_safe_int
)


class DuplicateKeysDict(dict[str, Any]):
    """An object that repeated a key (the last value kept), from loads(..., mark_duplicate_keys=True)."""


def _object_marking_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    return DuplicateKeysDict(pairs) if len(result) != len(pairs) else result


_DUPLICATES_MARKED: Final = json.JSONDecoder(
    object_pairs_hook=_object_marking_duplicates, parse_constant=_reject_constant, parse_float=_finite_float,
    parse_int=_safe_int,
)


def has_duplicate_keys(value: Any) -> bool:
    """True if `value` (parsed with mark_duplicate_keys=True) holds an object that repeated a key."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, DuplicateKeysDict):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _check_strings(text: str) -> None:
    if "\x00" in text:
        raise StrictJsonError("a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise StrictJsonError("a lone surrogate") from None


def _check_structure(value: Any, *, strings: bool) -> None:
    """Bound nesting depth and, if asked, refuse NUL and lone surrogates in keys and strings."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise StrictJsonError(f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                if strings:
                    for key in item:
                        _check_strings(key)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)
        elif strings and isinstance(item, str):
            _check_strings(item)


def loads(raw: bytes, *, allow_duplicate_keys: bool = False, mark_duplicate_keys: bool = False) -> Any:
    """Parse UTF-8 JSON by the rules above; StrictJsonError for a broken rule, JsonSyntaxError for non-JSON.

    mark_duplicate_keys: objects that repeat a key are DuplicateKeysDict instead of an error.
    """
    if not (allow_duplicate_keys or mark_duplicate_keys):
        value, _ = _fast(raw)
        if value is not _NOT_FAST:
            return value
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StrictJsonError("not UTF-8") from None
    try:
        decoder = _DUPLICATES_MARKED if mark_duplicate_keys else _DUPLICATES_KEPT if allow_duplicate_keys else _STRICT
        value = decoder.decode(text)
    except RecursionError:
        raise StrictJsonError(f"nested deeper than {MAX_DEPTH} levels") from None
    except StrictJsonError:
        raise
    except ValueError as exc:
        raise JsonSyntaxError(str(exc)) from None
    _check_rules_of_text(raw, value)
    return value


def loads_exact(raw: bytes) -> tuple[Any, bool]:
    """loads(raw), and whether `raw` is exactly orjson's serialisation of the value (then it may be sent as is)."""
    value, exact = _fast(raw)
    return (value, exact) if value is not _NOT_FAST else (loads(raw), False)


_NOT_FAST: Final = object()
# orjson reads an integer past 64 bits as a float: a float this large may have been one (the strict parser decides).
_FLOAT_FROM_BIG_INTEGER: Final = float(2**63)


def _looks_spaced(raw: bytes) -> bool:
    """Whitespace between the first tokens: not compact, so not worth the round trip (only a guess, never a verdict)."""
    head = raw[:128]
    return b'": ' in head or b", " in head or b"\n" in head


def _fast(raw: bytes) -> tuple[Any, bool]:
    """(orjson's parse of `raw`, whether `raw` is its exact serialisation) when the parse is provably the strict
    parse, else (_NOT_FAST, False): the strict parser decides.

    orjson itself refuses invalid UTF-8, lone surrogates, NaN and ±Infinity (1e400 too); what it does not check
    is proved here: that no object repeated a key (orjson keeps one of them) and that no integer is unsafe.
    Compact JSON (a signed token's payload, a script's body) is proved by the round trip: it is exactly
    orjson's serialisation of the parse, so nothing was dropped. Any other (spaced, differently escaped) by
    counting members (_members_match). NUL and nesting depth are checked after, as after the strict parser.
    Either way a fifth of the strict parse's time.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_FAST, False  # the strict parser names the fault
    if not _looks_spaced(raw):
        try:
            # OPT_STRICT_INTEGER refuses integers beyond ±MAX_SAFE_INTEGER, as _safe_int does.
            same = orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER) == raw
        except orjson.JSONEncodeError:  # an unsafe integer, or deeper than orjson writes
            return _NOT_FAST, False
        if same:
            _check_rules_of_text(raw, value)
            return value, True
    if not _members_match(raw, value):
        return _NOT_FAST, False
    _check_rules_of_text(raw, value)
    return value, False


def _members_match(raw: bytes, value: Any) -> bool:
    """Whether the parse kept every object member of `raw` and holds no unsafe number.

    In JSON text a ':' is either inside a string or separates a member's name from its value, so the members
    written in `raw` are its colons less those inside strings. Those inside strings are the colons of the
    parsed strings (names and values), when no string spells one as an escape (\\u003a: then False). If
    the parse dropped a repeated member, it holds fewer members and no more string colons than `raw`, so the
    counts differ.
    """
    if raw.find(b"\\") != -1 and (b"\\u003a" in raw or b"\\u003A" in raw):
        return False
    members = string_colons = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if ":" in item:  # found by memchr; most strings (a token) have none, and count() reads every byte
                string_colons += item.count(":")
        elif kind is dict:
            members += len(item)
            for name, child in item.items():
                string_colons += name.count(":")
                stack.append(child)
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif kind is float and abs(item) >= _FLOAT_FROM_BIG_INTEGER:
            return False
    return _count_byte(raw, b":") - string_colons == members


def _count_byte(raw: bytes, byte: bytes) -> int:
    """raw.count(byte), by memchr while there are few (a verify body has one colon outside its token)."""
    found, at = 0, raw.find(byte)
    while at != -1:
        found += 1
        if found > 16:
            return raw.count(byte)
        at = raw.find(byte, at + 1)
    return found


def _check_rules_of_text(raw: bytes, value: Any) -> None:
    """NUL, lone surrogates and nesting depth, checked on the parsed value when the raw text could break them."""
    # Walk the tree only when the raw text could break a rule (keeps the common path fast):
    # depth <= number of containers; a lone surrogate or NUL needs a \u escape (raw control bytes are syntax errors).
    # (A single-byte find is memchr-fast; `b"\\u" in raw` and bytes.count measured several times slower.)
    strings = raw.find(b"\\") != -1 and (_NUL_ESCAPE in raw or _SURROGATE_ESCAPE.search(raw) is not None)
    if strings or _more_containers_than(raw, MAX_DEPTH):
        _check_structure(value, strings=strings)


def _more_containers_than(raw: bytes, limit: int) -> bool:
    """Whether `raw` holds more than `limit` '{' and '[' together.

    A verify body is one object around a 6 KB token, and a batch body one array of a thousand: in long text the
    first few are found by memchr, and only text with more of them is counted byte by byte. Short text (a
    credential) is counted at once: it holds dozens.
    """
    if len(raw) <= 64 * 1024:
        return raw.count(b"{") + raw.count(b"[") > limit
    found = 0
    for opener in (b"{", b"["):
        at = raw.find(opener)
        while at != -1:
            found += 1
            if found > 8:
                return raw.count(b"{") + raw.count(b"[") > limit
            at = raw.find(opener, at + 1)
    return found > limit


def _is_json_body(scope: Scope) -> bool:
    if scope.get("method") not in _BODY_METHODS:
        return False
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return not value.decode("latin-1").strip().lower().startswith(_NOT_JSON_TYPES)
    return True


class StrictJsonBodies:
    """Refuses, before any route runs: a path or query holding NUL or invalid UTF-8, and a body breaking a rule.

    `verdict_paths` are routes (the verifiers) where duplicate keys are a verdict on the credential, not an
    input error: there the route sees them and answers 200 `malformed`. `route_limits` are routes with a
    body limit of their own: a body over it goes to the route unparsed, for its 413; a limit of 0 means the route
    reads and parses the body itself by these rules, and it is passed through unread. `bad_request_paths` answer
    a refused body with 400 instead of 422 (the W3C VC API routes: that spec answers invalid input with 400).
    """

    def __init__(
        self, app: ASGIApp, verdict_paths: frozenset[str] = frozenset(), route_limits: dict[str, int] | None = None,
        bad_request_paths: frozenset[str] = frozenset(),
    ):
        self.app = app
        self.verdict_paths = verdict_paths
        self.route_limits = route_limits or {}
        self.bad_request_paths = bad_request_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        try:
            _check_strings(path)
        except StrictJsonError:
            await send_json_error(send, 404, "not_found", "No resource has that path.")
            return
        query: bytes = scope.get("query_string", b"")
        if b"\x00" in unquote_to_bytes(query):
            await send_json_error(send, 422, "validation_error", "A query parameter holds a NUL character.")
            return
        if not _is_json_body(scope) or self.route_limits.get(path) == 0:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except PayloadTooLarge as exc:
            await send_json_error(send, 413, exc.code, exc.detail)
            return
        body = b"".join(chunks)
        if body and len(body) <= self.route_limits.get(path, len(body)):
            parse = functools.partial(loads, body, allow_duplicate_keys=path in self.verdict_paths)
            try:
                # A big body takes Python-level hooks up to ~0.2 s per MB: off the event loop, so others go on.
                parse() if len(body) <= _INLINE_PARSE_BYTES else await to_thread.run_sync(parse)
            except StrictJsonError as exc:
                status = 400 if path in self.bad_request_paths else 422
                await send_json_error(send, status, "invalid_json", f"The body is not acceptable JSON: {exc}.")
                return
            except JsonSyntaxError:
                pass  # the route answers it with its own 422
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
