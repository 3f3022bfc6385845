"""The HTML of the public pages: one Jinja2 environment (autoescape on), the inline stylesheet and its CSP hash,
and the headers every page answer carries. The /verify page (verify_page.py) reuses base.html and page_headers."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=False,
    keep_trailing_newline=True,
)
# Inline CSS (no external asset), allowed by its hash: CSP3 §8.4 (hash-source) matches the <style> element's text.
CSS = (TEMPLATES / "page.css").read_text(encoding="utf-8")
CSS_HASH = "sha256-" + base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
# No script, no frames, no plugins, no fetches; images only from us or data: (the badge); no form posts anywhere.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{CSS_HASH}'; img-src 'self' data:; form-action 'none'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# The verify page posts its form to itself, and nowhere else.
VERIFY_PAGE_CSP = CONTENT_SECURITY_POLICY.replace("form-action 'none'", "form-action 'self'")
# A revocation, suspension or take-down must show within a minute: caches revalidate on every request.
PAGE_CACHE_CONTROL = "no-cache"


def render(template: str, **context: Any) -> str:
    """A page from templates/, with the stylesheet and site name every page uses."""
    return _ENV.get_template(template).render(css=Markup(CSS), **context)  # noqa: S704 (our own file, not input)


def page_headers(*, indexable: bool = False, csp: str = CONTENT_SECURITY_POLICY) -> dict[str, str]:
    """The caching and privacy headers of every public page answer (issue 8, point 7)."""
    headers = {
        "Cache-Control": PAGE_CACHE_CONTROL,
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    if not indexable:
        headers["X-Robots-Tag"] = "noindex"
    return headers


# The pages whose rate-limit refusal is a page (as OpenAPI documents them).
HTML_REFUSAL_PATHS = ("/c/{share_id}", "/verify")


def rate_limited_page(site_name: str) -> Callable[[str, int], tuple[bytes, dict[str, str]] | None]:
    """The refusal page (429) of the pages people read: the share page and the verify page; None elsewhere."""

    def page(path: str, retry_after: int) -> tuple[bytes, dict[str, str]] | None:
        share_page = path.startswith("/c/") and path.count("/") == 2
        if not (share_page or path == "/verify"):
            return None  # downloads, badges and the API answer in JSON
        wait = f"{retry_after} second{'s' if retry_after != 1 else ''}"
        html = render("message.html", heading="Too many requests", site_name=site_name, indexable=False,
                      message="This address has asked for too many pages in a short time.",
                      hint=f"Please wait {wait} and try again.")
        return html.encode("utf-8"), page_headers()

    return page
