"""JSON-LD from bundled contexts only: an offline document loader, safe-mode expansion, RDFC-1.0 canonical N-Quads.

Contexts are never fetched (VC DM 2.0 §5.2 and VC Data Integrity §2.4: treat them as already retrieved); each
bundled file must match the SHA-256 in contexts/manifest.json. Safe mode follows jsonld.js `safe: true`: any term
the contexts do not define, and any relative @id/@type/@vocab reference, is an error instead of silently lost data
(VC Data Integrity §2.4.3, DATA_LOSS_DETECTION_ERROR).

JsonLdError
 ├── UnknownContext   a context URL that is not bundled (nothing is fetched)
 ├── UndefinedTerm    safe mode: a dropped property or a relative IRI
 └── InvalidJsonLd    not processable JSON-LD (bad @context, invalid keyword use, ...)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

from pyld import jsonld
from pyld.context_resolver import ContextResolver

__all__ = [
    "InvalidJsonLd",
    "JsonLdError",
    "UndefinedTerm",
    "UnknownContext",
    "bundled_contexts",
    "canonize",
    "document_loader",
    "expand_safe",
]

_PACKAGE: Final = "app.credentials"
# The RDFC-1.0 algorithm; pyld still calls it by its draft name.
_RDFC_1_0: Final = "URDNA2015"


class JsonLdError(Exception):
    """A document that cannot be processed as JSON-LD from the bundled contexts."""


class UnknownContext(JsonLdError):
    """A context URL that is not bundled; we never fetch one."""

    def __init__(self, url: str):
        super().__init__(f"The JSON-LD context {url!r} is not one Skillproof knows (contexts are never fetched).")
        self.url = url


class UndefinedTerm(JsonLdError):
    """Safe mode: a term its contexts do not define, or a relative IRI, which JSON-LD would silently drop."""

    def __init__(self, what: str):
        super().__init__(f"{what} (JSON-LD safe mode; VC Data Integrity §2.4.3).")
        self.what = what


class InvalidJsonLd(JsonLdError):
    """Not processable JSON-LD."""


@cache
def bundled_contexts() -> Mapping[str, Any]:
    """URL → parsed context, each file checked against its pinned SHA-256."""
    folder = resources.files(_PACKAGE).joinpath("contexts")
    manifest = json.loads(folder.joinpath("manifest.json").read_text(encoding="utf-8"))
    contexts: dict[str, Any] = {}
    for url, entry in manifest["contexts"].items():
        data = folder.joinpath(entry["file"]).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry["sha256"]:
            raise RuntimeError(f"Bundled context {entry['file']} has SHA-256 {digest}, not {entry['sha256']}.")
        contexts[url] = json.loads(data)
    return contexts


def document_loader(url: str, options: object = None) -> dict[str, Any]:
    """pyld document loader that answers from the bundled contexts and never touches the network."""
    contexts = bundled_contexts()
    if url not in contexts:
        raise UnknownContext(url)
    return {"contextUrl": None, "documentUrl": url, "contentType": "application/ld+json", "document": contexts[url]}


@cache
def _resolver() -> Any:
    # Our own resolved-context cache: pyld's module-wide one would be shared with any other loader in the process.
    from cachetools import LRUCache  # pyld's own dependency

    return ContextResolver(LRUCache(maxsize=64), document_loader)


def _options(extra_contexts: Mapping[str, Any] | None, **extra: Any) -> dict[str, Any]:
    # base None: relative IRIs stay relative (and are refused) instead of being resolved against a document URL.
    if not extra_contexts:
        return {"documentLoader": document_loader, "contextResolver": _resolver(), "base": None, **extra}
    known = {**extra_contexts, **bundled_contexts()}  # a caller's context never replaces a bundled one

    def loader(url: str, options: object = None) -> dict[str, Any]:
        if url not in known:
            raise UnknownContext(url)
        return {"contextUrl": None, "documentUrl": url, "contentType": "application/ld+json", "document": known[url]}

    from cachetools import LRUCache

    return {"documentLoader": loader, "contextResolver": ContextResolver(LRUCache(maxsize=16), loader), "base": None,
            **extra}


def _raise_dropped(expanded_property: object) -> None:
    raise UndefinedTerm(f"The property {expanded_property!r} is not defined by the document's @context")


def _unwrap(error: BaseException) -> JsonLdError:
    """Our own error if pyld wrapped one (a loader refusal), else InvalidJsonLd with pyld's message."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, JsonLdError):
            return cause
        cause = cause.__cause__
    message = error.args[0] if error.args else str(error)
    return InvalidJsonLd(f"Not valid JSON-LD: {message}")


def _is_absolute_iri(value: str) -> bool:
    scheme, sep, _ = value.partition(":")
    return bool(sep) and scheme[:1].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)


def _check_node(value: Any, path: str) -> None:
    """Refuse what jsonld.js safe mode refuses after expansion: relative @id/@type, blank-node predicates."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_node(item, f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if key == "@id" and isinstance(item, str) and not item.startswith("_:") and not _is_absolute_iri(item):
            raise UndefinedTerm(f"Relative @id reference {item!r} at {path}")
        if key == "@type" and "@value" not in value:
            for t in item if isinstance(item, list) else [item]:
                if isinstance(t, str) and not t.startswith("_:") and not _is_absolute_iri(t):
                    raise UndefinedTerm(f"The type {t!r} at {path} is not defined by the document's @context")
        elif key == "@type" and isinstance(item, str) and item != "@json" and not _is_absolute_iri(item):
            raise UndefinedTerm(f"Relative datatype {item!r} at {path}")
        if key.startswith("_:"):
            raise UndefinedTerm(f"Blank node predicate {key!r} at {path}")
        if key == "@value" or (key.startswith("@") and key not in _NODE_KEYWORDS):
            continue
        _check_node(item, f"{path}.{key}" if not key.startswith("@") else path)


# Keywords whose values hold further nodes to check; @value (and @json literals) are data.
_NODE_KEYWORDS: Final = frozenset({"@graph", "@list", "@set", "@reverse", "@included"})


def expand_safe(document: Mapping[str, Any], extra_contexts: Mapping[str, Any] | None = None) -> list[Any]:
    """Expand a JSON-LD document in safe mode with the bundled contexts; raise JsonLdError on any data loss.

    `extra_contexts` (URL → context) adds documents the caller vouches for, e.g. test vectors' example contexts.
    """
    try:
        expanded = jsonld.expand(dict(document), _options(extra_contexts), on_property_dropped=_raise_dropped)
    except JsonLdError:
        raise
    except Exception as error:  # pyld raises its own JsonLdError, TypeError or ValueError on odd input
        raise _unwrap(error) from error
    _check_node(expanded, "$")
    return list(expanded)


def canonize(document: Mapping[str, Any], extra_contexts: Mapping[str, Any] | None = None) -> str:
    """RDFC-1.0 canonical N-Quads of a document, after safe-mode expansion (VC Data Integrity §4.3 step 1)."""
    expanded = expand_safe(document, extra_contexts)
    try:
        nquads = jsonld.normalize(expanded, _options(extra_contexts, algorithm=_RDFC_1_0, format="application/n-quads"))
    except Exception as error:
        raise _unwrap(error) from error
    return str(nquads)
