"""Short-text patterns on RE2: matching takes time linear in the answer, whatever the pattern.

Python's `re` backtracks: `(a|a)*b` against 26 letters took 4.6 s, doubling with each one. RE2 (google-re2)
never backtracks; it refuses what it cannot run in linear time (backreferences, lookaround) at compile time.
"""

from __future__ import annotations

import functools
from typing import Final

import re2

__all__ = ["MAX_PATTERN_CHARS", "PatternError", "compile_problem", "fullmatches"]

MAX_PATTERN_CHARS: Final = 200


class PatternError(ValueError):
    """A pattern RE2 cannot compile (or longer than MAX_PATTERN_CHARS)."""


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, case_sensitive: bool) -> re2._Regexp:
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"over {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        message = exc.args[0] if exc.args else "invalid pattern"
        raise PatternError(message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)) from None
    except UnicodeError:
        raise PatternError("not valid Unicode") from None


def compile_problem(pattern: str) -> str | None:
    """Why RE2 cannot use this pattern, or None when it can."""
    try:
        _compiled(pattern, True)
    except PatternError as exc:
        return str(exc)
    return None


def fullmatches(pattern: str, text: str, *, case_sensitive: bool) -> bool:
    """Whether `pattern` matches the whole of `text` (PatternError if it cannot compile)."""
    try:
        return _compiled(pattern, case_sensitive).fullmatch(text) is not None
    except UnicodeError:  # a lone surrogate cannot be handed to RE2 as UTF-8; it matches nothing
        return False
