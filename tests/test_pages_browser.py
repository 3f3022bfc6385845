"""The share page as people see it: Debian's Chromium, narrow and wide, with axe-core (WCAG 2.1 AA).

A real `skillproof serve` process; the verdict and facts are read from the rendered DOM; screenshots land in
var/test-artifacts/screenshots. Skips, saying why, where Chromium or the npm packages are absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_KEY  # the factories authenticate as this admin
from tests.factories import bearer, earn_credential, new_learner
from tests.node import check_page, chromium_or_skip
from tests.servers import fresh_server

SELECTORS = {"status": "#status", "holder": "#holder-name", "skill": "#skill", "level": "#level",
             "achievement": "#achievement"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chromium_or_skip()
    with fresh_server(tmp_path_factory.mktemp("pages-server"), ADMIN_KEY) as (url, _):
        yield url


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, headers=bearer(ADMIN_KEY), timeout=30) as client:
        yield client


def _shared(http: httpx.Client) -> tuple[dict[str, Any], str]:
    learner = new_learner(http, name="Grace Hopper", email="grace@example.com")  # type: ignore[arg-type]
    earned = earn_credential(http, learner=learner)  # type: ignore[arg-type]
    credential = earned["credential"]
    response = http.post(f"/v1/credentials/{credential['id']}/share", json={}, headers=learner["headers"])
    assert response.status_code == 201, response.text
    return credential, response.json()["url"]


def test_the_share_page_in_chromium_is_accessible_and_says_valid_then_revoked(http: httpx.Client) -> None:
    credential, url = _shared(http)
    views = check_page(url, name="share-valid", selectors=SELECTORS)
    for label, view in views.items():
        assert view["status"] == 200
        assert view["violations"] == [], (label, view["violations"])
        texts = view["texts"]
        assert texts["status"].splitlines()[0] == "Status: Valid"
        assert texts["holder"] == "Grace Hopper"
        assert texts["skill"] and texts["level"]
        assert not view["scrollsSideways"], (label, view["overflowing"])
        reached = [item["href"] or "" for item in view["focusOrder"]]
        assert any(href.endswith("/credential.jwt") for href in reached), reached
        assert any(href.endswith("/badge.png") for href in reached), reached
        assert all(item["visibleFocus"] for item in view["focusOrder"]), view["focusOrder"]
        assert view["consoleErrors"] == [] and view["failedRequests"] == [], view

    assert http.post(f"/v1/credentials/{credential['id']}/revoke", json={}).status_code == 200
    after = check_page(url, name="share-revoked", selectors=SELECTORS, viewports=(("wide", 1280, 900),),
                       print_pdf=True)
    assert after["wide"]["texts"]["status"].splitlines()[0] == "Status: Revoked"
    assert after["wide"]["violations"] == []
    assert after["wide"]["printedPages"] == 1  # the print stylesheet: a one-page certificate
