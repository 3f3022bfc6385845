"""Share pages: POST/DELETE /v1/credentials/{id}/share and the public page /c/{share_id} with its downloads."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from app.deps import get_clock
from tests.conftest import PUBLIC_URL
from tests.factories import ADMIN, earn_credential, new_learner, verify_response


def share(client: TestClient, credential_id: str, headers: dict[str, str], **options: Any) -> dict[str, Any]:
    response = client.post(f"/v1/credentials/{credential_id}/share", json=options or None, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def page(client: TestClient, url: str) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return BeautifulSoup(response.text, "html.parser")


def text_of(soup: BeautifulSoup, element_id: str) -> str:
    element = soup.find(id=element_id)
    assert element is not None, element_id
    return " ".join(element.get_text(" ").split())


def test_smoke(client: TestClient) -> None:
    earned = earn_credential(client)
    shared = share(client, earned["credential"]["id"], earned["learner"]["headers"])
    response = client.get(shared["url"])
    print(response.text)
    open("/tmp/i8/page.html", "w").write(response.text)
    assert response.status_code == 200
