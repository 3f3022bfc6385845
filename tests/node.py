"""Node.js and the npm packages in tests/interop (`make node-deps`): the ecosystem's verifiers for the interop
tests, and Debian's Chromium driven by playwright-core with axe-core for the pages people look at."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

INTEROP = Path(__file__).parent / "interop"


def node_or_skip(package: str) -> str:
    """The node executable, or a skip saying what is missing: Node.js 20+, or the npm `package` in tests/interop."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(f"node is not on PATH: the {package} interop test needs Node.js 20+")
    if not (INTEROP / "node_modules" / package).is_dir():
        pytest.skip(f"tests/interop/node_modules lacks {package}: run `make node-deps` (needs npm)")
    return node


ARTIFACTS = Path(__file__).parent.parent / "var" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


def chromium_or_skip() -> tuple[str, str]:
    """(node, chromium): what the browser tests drive, or a skip saying what is missing (Debian's chromium)."""
    node = node_or_skip("playwright-core")
    chromium = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if chromium is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it)")
    return node, chromium


def check_page(url: str, *, name: str, selectors: dict[str, str] | None = None,
               viewports: tuple[tuple[str, int, int], ...] = (("narrow", 375, 812), ("wide", 1280, 900)),
               tabs: int = 40, form: dict[str, Any] | None = None, print_pdf: bool = False) -> dict[str, Any]:
    """The page in headless Chromium at each viewport: axe-core's WCAG 2.1 AA violations, the text of
    `selectors`, the Tab order, sideways scrolling, with `print_pdf` the number of pages it prints on (the PDF
    kept); screenshots land in var/test-artifacts/screenshots. With `form` ({"fill": {selector: text}, "files":
    {selector: path}, "submit": selector}) the page's form is filled and submitted first, and all of that is
    about the page the submission leads to."""
    node, chromium = chromium_or_skip()
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    request = {"url": url, "name": name, "chromium": chromium, "selectors": selectors or {}, "tabs": tabs,
               "viewports": [{"name": label, "width": width, "height": height} for label, width, height in viewports],
               "screenshotDir": str(shots), "print": print_pdf}
    if form is not None:
        request["form"] = form
    done = subprocess.run([node, str(INTEROP / "page_check.mjs")], input=json.dumps(request), capture_output=True,
                          text=True, cwd=INTEROP, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout)["viewports"]
    return answer
