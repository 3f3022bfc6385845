"""The browser check itself: axe-core in Debian's Chromium finds real WCAG failures and passes a clean page.

The share and verify pages are judged by tests/node.check_page; this proves the judge can fail.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node import ARTIFACTS, check_page

GOOD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Clean page</title>
<style>body{font:16px/1.5 sans-serif;color:#1a1a1a;background:#fff;margin:1rem}
a:focus,button:focus{outline:3px solid #1a56db;outline-offset:2px}</style></head>
<body><header><h1>Clean page</h1></header>
<main><p id="verdict">Status: valid</p>
<form action="/x" method="post"><label for="email">Email</label> <input id="email" name="email" type="email">
<button type="submit">Check</button></form>
<p><a href="/elsewhere">A link with words</a></p></main></body></html>"""

BAD = """<!doctype html>
<html><head><title>Bad page</title></head>
<body><img src="/none.png"><input type="text" name="q">
<p style="color:#bbb;background:#fff">Barely readable grey text</p>
<a href="/x"></a></body></html>"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("site")
    (root / "good.html").write_text(GOOD)
    (root / "bad.html").write_text(BAD)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_clean_page_has_no_violations_and_is_keyboard_usable(site: str) -> None:
    views = check_page(f"{site}/good.html", name="harness-good", selectors={"verdict": "#verdict"})
    assert set(views) == {"narrow", "wide"}
    for label, view in views.items():
        assert view["status"] == 200
        assert view["violations"] == [], (label, view["violations"])
        assert view["texts"]["verdict"] == "Status: valid"
        reached = [(item["tag"], item["text"]) for item in view["focusOrder"]]
        assert ("button", "Check") in reached and ("a", "A link with words") in reached
        assert all(item["visibleFocus"] for item in view["focusOrder"])
        assert not view["scrollsSideways"]
        assert (ARTIFACTS / "screenshots" / f"harness-good-{label}.png").stat().st_size > 1000


def test_a_page_with_wcag_failures_is_caught(site: str) -> None:
    views = check_page(f"{site}/bad.html", name="harness-bad", viewports=(("wide", 1280, 900),))
    found = {violation["id"] for violation in views["wide"]["violations"]}
    assert {"image-alt", "label", "color-contrast", "html-has-lang", "link-name"} <= found
