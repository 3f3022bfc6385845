"""Share pages: POST/DELETE /v1/credentials/{id}/share and the public page /c/{share_id} with its downloads."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from app.audit.models import AuditEvent
from app.config import Settings
from app.deps import get_clock
from app.pages import render
from app.pages.models import CredentialShare
from tests.conftest import PUBLIC_URL
from tests.factories import ADMIN, clear_of_a_minute_boundary, earn_credential, new_learner, verify_response

SHARE_URL = re.compile(re.escape(PUBLIC_URL) + r"/c/([A-Za-z0-9_-]{32})")


def share(client: TestClient, credential_id: str, headers: dict[str, str], expect: int = 201,
          **options: Any) -> dict[str, Any]:
    response = client.post(f"/v1/credentials/{credential_id}/share", json=options, headers=headers)
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


def parsed(response: Any) -> BeautifulSoup:
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]
    return BeautifulSoup(response.text, "html.parser")


def page(client: TestClient, url: str) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return parsed(response)


def text_of(soup: BeautifulSoup, element_id: str) -> str:
    element = soup.find(id=element_id)
    assert isinstance(element, Tag), f"no #{element_id}"
    return " ".join(element.get_text(" ").split())


def status_of(soup: BeautifulSoup) -> str:
    element = soup.find(id="status")
    assert isinstance(element, Tag)
    return str(element["data-status"])


@pytest.fixture
def earned(client: TestClient) -> dict[str, Any]:
    return earn_credential(client, learner=new_learner(client, name="Ada Lovelace", email="ada@example.com"))


@pytest.fixture
def clock(client: TestClient) -> Iterator[dict[str, dt.datetime]]:
    """Move the request clock: set clock["now"]."""
    moment: dict[str, dt.datetime] = {}
    client.app.dependency_overrides[get_clock] = lambda: moment.get("now") or dt.datetime.now(dt.UTC)  # type: ignore[attr-defined]
    yield moment
    client.app.dependency_overrides.pop(get_clock, None)  # type: ignore[attr-defined]


def test_share_returns_an_unguessable_url_and_the_page_shows_the_credential(
    client: TestClient, earned: dict[str, Any]
) -> None:
    credential = earned["credential"]
    shared = share(client, credential["id"], earned["learner"]["headers"])
    assert shared["url"] == f"{PUBLIC_URL}/c/{shared['share_id']}"
    assert SHARE_URL.fullmatch(shared["url"])
    assert (shared["show_score"], shared["show_name"], shared["indexable"]) == (False, True, False)

    soup = page(client, shared["url"])
    document = credential["credential"]
    achievement = document["credentialSubject"]["achievement"]
    assert soup.html is not None and soup.html["lang"] == "en"
    assert text_of(soup, "achievement") == achievement["name"]
    assert text_of(soup, "holder-name") == "Ada Lovelace"
    assert text_of(soup, "skill") == "Python programming"
    assert text_of(soup, "level") == "foundation"
    assert status_of(soup) == "valid"
    assert "Status: Valid" in text_of(soup, "status")
    assert text_of(soup, "mastery") == earned["grade"]["mastery"]
    assert text_of(soup, "issuer-did") == document["issuer"]["id"]
    assert document["validFrom"][:10] == soup.select_one("#issued time")["datetime"][:10]  # type: ignore[index]
    assert text_of(soup, "expires") == "Does not expire"
    shown = len(earned["attempt"]["items"])
    assert text_of(soup, "items-answered") == f"{shown} of {shown}"
    assert text_of(soup, "time-limit") == "30 minutes"
    assert achievement["criteria"]["narrative"] in soup.get_text(" ")
    # What the level means, as the evidence view the credential's criteria id names states it.
    evidence = client.get(achievement["criteria"]["id"].split("#")[0].removeprefix(PUBLIC_URL)).json()
    assert evidence["blueprint"]["level_descriptor"]
    assert text_of(soup, "level-descriptor") == evidence["blueprint"]["level_descriptor"]
    # One h1, then h2s; main, header and footer landmarks; every image has alt text.
    levels = [int(h.name[1]) for h in soup.find_all(re.compile("^h[1-6]$"))]
    assert levels[0] == 1 and all(after <= before + 1 for before, after in itertools.pairwise(levels))
    assert len(soup.find_all("h1")) == 1
    assert soup.find("main") and soup.find("header") and soup.find("footer")
    assert all(img.get("alt") for img in soup.find_all("img"))
    # The badge is the achievement's own SVG, inline as data: (no external asset).
    badge = soup.select_one(".badge img")
    assert badge is not None and str(badge["src"]).startswith("data:image/svg+xml;base64,")
    assert not soup.find("script")
    assert not [tag for tag in soup.find_all(["link", "img"]) if str(tag.get("href") or tag.get("src") or "")
                .startswith("http") and not str(tag.get("href") or tag.get("src")).startswith(PUBLIC_URL)]


def test_name_and_score_follow_the_learners_options(client: TestClient, earned: dict[str, Any]) -> None:
    credential_id, headers = earned["credential"]["id"], earned["learner"]["headers"]
    shared = share(client, credential_id, headers)
    soup = page(client, shared["url"])
    assert soup.find(id="score") is None
    percent = earned["credential"]["credential"]["credentialSubject"]["result"][0]["value"]

    again = share(client, credential_id, headers, expect=200, show_score=True, show_name=False)
    assert again["share_id"] == shared["share_id"]  # one active share: the same page, new options
    soup = page(client, shared["url"])
    assert soup.find(id="holder-name") is None
    assert "Ada Lovelace" not in soup.get_text(" ") and "Ada Lovelace" not in str(soup.head)
    assert "chose not to show their name" in soup.get_text(" ")
    assert text_of(soup, "score").startswith(f"{percent}%")
    assert f"{earned['grade']['score']:g} of {earned['grade']['max_score']:g} points" in text_of(soup, "score")


def test_revocation_and_suspension_show_on_the_same_page(client: TestClient, earned: dict[str, Any]) -> None:
    credential_id = earned["credential"]["id"]
    url = share(client, credential_id, earned["learner"]["headers"])["url"]
    assert status_of(page(client, url)) == "valid"

    assert client.post(f"/v1/credentials/{credential_id}/suspend", headers=ADMIN).status_code == 200
    soup = page(client, url)
    assert status_of(soup) == "suspended" and "Status: Suspended" in text_of(soup, "status")
    assert client.post(f"/v1/credentials/{credential_id}/reinstate", headers=ADMIN).status_code == 200
    assert status_of(page(client, url)) == "valid"

    assert client.post(f"/v1/credentials/{credential_id}/revoke", headers=ADMIN).status_code == 200
    soup = page(client, url)
    assert status_of(soup) == "revoked" and "Status: Revoked" in text_of(soup, "status")
    # The status class differs too (colour), beside the words.
    status = soup.find(id="status")
    assert isinstance(status, Tag) and "status-revoked" in status["class"]


def test_an_expired_credential_says_expired(client: TestClient, clock: dict[str, dt.datetime]) -> None:
    earned = earn_credential(client, credential_valid_days=30)
    url = share(client, earned["credential"]["id"], earned["learner"]["headers"])["url"]
    soup = page(client, url)
    assert status_of(soup) == "valid"
    valid_until = earned["credential"]["credential"]["validUntil"]
    assert soup.select_one("#expires time")["datetime"][:10] == valid_until[:10]  # type: ignore[index]
    clock["now"] = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    assert status_of(page(client, url)) == "expired"


def test_unshare_takes_the_page_down_at_once(client: TestClient, earned: dict[str, Any]) -> None:
    credential_id, headers = earned["credential"]["id"], earned["learner"]["headers"]
    url = share(client, credential_id, headers)["url"]
    assert client.get(url + "/credential.jwt").status_code == 200
    response = client.delete(f"/v1/credentials/{credential_id}/share", headers=headers)
    assert response.status_code == 204 and response.content == b""

    gone = client.get(url)
    assert gone.status_code == 410
    soup = parsed(gone)
    assert "taken down" in text_of(soup, "main").lower()
    assert gone.headers["x-robots-tag"] == "noindex" and gone.headers["cache-control"] == "no-cache"
    assert client.get(url + "/credential.jwt").status_code == 410
    assert client.get(url + "/credential.json").json()["error"] == "gone"
    # Nothing left to take down; sharing again gives a new page, the old one stays gone.
    again = client.delete(f"/v1/credentials/{credential_id}/share", headers=headers)
    assert again.status_code == 404 and again.json()["error"] == "not_shared"
    renewed = share(client, credential_id, headers)
    assert renewed["url"] != url
    assert client.get(url).status_code == 410
    assert status_of(page(client, renewed["url"])) == "valid"


@pytest.mark.parametrize("share_id", [
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "short", "x" * 65, "%3Cscript%3E", "%21" * 20, "a.b", "\u00e9" * 20,
])
def test_unknown_share_ids_get_an_html_404(client: TestClient, share_id: str) -> None:
    response = client.get(f"/c/{share_id}")
    assert response.status_code == 404
    assert "No such page" in text_of(parsed(response), "main")
    assert client.get(f"/c/{share_id}/credential.jwt").status_code == 404


def test_a_nul_in_the_path_is_refused_before_the_page(client: TestClient) -> None:
    assert client.get("/c/" + "%00" * 20).status_code == 404  # app/strict_json.py refuses it, never a 500


def test_only_the_owner_learner_shares(client: TestClient, earned: dict[str, Any]) -> None:
    credential_id = earned["credential"]["id"]
    path = f"/v1/credentials/{credential_id}/share"
    assert client.post(path, json={}).status_code == 401
    assert client.post(path, json={}, headers=ADMIN).status_code == 403
    other = new_learner(client)
    assert client.post(path, json={}, headers=other["headers"]).json()["error"] == "not_found"
    assert client.delete(path, headers=other["headers"]).status_code == 404
    assert client.delete(path).status_code == 401
    assert client.post("/v1/credentials/nope/share", json={}, headers=earned["learner"]["headers"]).status_code == 404


def _counts(settings: Settings) -> tuple[int, int]:
    engine = create_engine(settings.sqlalchemy_url)
    with engine.connect() as connection:
        shares = connection.execute(select(func.count()).select_from(CredentialShare)).scalar_one()
        events = connection.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    engine.dispose()
    return shares, events


@pytest.mark.parametrize("body", [
    {"show_score": "yes"}, {"show_name": 1}, {"indexable": None}, {"unknown": True}, [], "true",
])
def test_bad_input_is_a_clear_422_and_writes_nothing(
    client: TestClient, settings: Settings, earned: dict[str, Any], body: Any
) -> None:
    before = _counts(settings)
    response = client.post(f"/v1/credentials/{earned['credential']['id']}/share", json=body,
                           headers=earned["learner"]["headers"])
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error" and response.json()["detail"]
    assert _counts(settings) == before


def test_share_and_unshare_are_audited(client: TestClient, earned: dict[str, Any]) -> None:
    credential_id, headers = earned["credential"]["id"], earned["learner"]["headers"]
    share_id = share(client, credential_id, headers, show_score=True)["share_id"]
    client.delete(f"/v1/credentials/{credential_id}/share", headers=headers)
    events = client.get("/v1/audit-events", params={"target_id": credential_id}, headers=ADMIN).json()
    actions = [(event["action"], event["details"].get("share_id")) for event in events["events"]]
    assert ("credential.share", share_id) in actions and ("credential.unshare", share_id) in actions


def test_headers_cache_privacy_and_indexing(client: TestClient, earned: dict[str, Any]) -> None:
    credential_id, headers = earned["credential"]["id"], earned["learner"]["headers"]
    url = share(client, credential_id, headers)["url"]
    response = client.get(url)
    csp = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    assert directives["img-src"] == "'self' data:" and "script-src" not in directives
    # The inline stylesheet is exactly the one the CSP hash allows.
    soup = parsed(response)
    style = soup.find("style")
    assert isinstance(style, Tag)
    digest = base64.b64encode(hashlib.sha256(style.get_text().encode()).digest()).decode()
    assert directives["style-src"] == f"'sha256-{digest}'" == f"'{render.CSS_HASH}'"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-robots-tag"] == "noindex"
    assert soup.find("meta", attrs={"name": "robots", "content": "noindex"})

    share(client, credential_id, headers, expect=200, indexable=True)
    response = client.get(url)
    assert "x-robots-tag" not in response.headers
    assert not parsed(response).find("meta", attrs={"name": "robots"})


def test_downloads_verify_and_are_linked(client: TestClient, earned: dict[str, Any]) -> None:
    url = share(client, earned["credential"]["id"], earned["learner"]["headers"])["url"]
    soup = page(client, url)
    jwt = client.get(url + "/credential.jwt")
    assert jwt.status_code == 200 and jwt.headers["content-type"] == "application/vc+jwt"
    assert jwt.text == earned["credential"]["jwt"]
    assert verify_response(client, jwt.text)["verified"] is True
    ldp = client.get(url + "/credential.json")
    assert ldp.status_code == 200 and ldp.headers["content-type"] == "application/vc"
    assert ldp.json() == earned["credential"]["ldp"]
    assert verify_response(client, ldp.json())["verified"] is True
    assert ldp.headers["x-robots-tag"] == "noindex" and ldp.headers["cache-control"] == "no-cache"

    hrefs = {str(a["href"]) for a in soup.find_all("a", href=True)}
    assert {url + "/credential.jwt", url + "/credential.json", url + "/badge.svg", url + "/badge.png"} <= hrefs
    alternate = soup.find("link", rel="alternate", type="application/vc")
    assert isinstance(alternate, Tag) and alternate["href"] == url + "/credential.json"
    # How to verify without us: JWKS, DID document, a curl line and the CLI line that name this credential.
    assert f"{PUBLIC_URL}/.well-known/jwks.json" in hrefs and f"{PUBLIC_URL}/.well-known/did.json" in hrefs
    commands = [code.get_text() for code in soup.select("pre code")]
    assert any(c.startswith(f"curl -s -X POST {PUBLIC_URL}/v1/credentials/verify") and url in c for c in commands)
    assert f"skillproof verify {url}/credential.jwt --url {PUBLIC_URL}" in commands
    # The page holds the JWS once, so `skillproof verify <page url>` finds it.
    assert soup.get_text().count(earned["credential"]["jwt"]) == 1


def test_open_graph_and_twitter_cards(client: TestClient, earned: dict[str, Any]) -> None:
    url = share(client, earned["credential"]["id"], earned["learner"]["headers"])["url"]
    soup = page(client, url)

    def meta(key: str, value: str) -> str:
        tag = soup.find("meta", attrs={key: value})
        assert isinstance(tag, Tag), value
        return str(tag["content"])

    assert meta("property", "og:url") == url
    assert "Python programming (foundation)" in meta("property", "og:title")
    assert meta("property", "og:image") == url + "/badge.png"
    assert meta("name", "twitter:card") == "summary"
    assert "Ada Lovelace" in meta("name", "twitter:title")


def test_the_linkedin_link_is_filled_in(client: TestClient, clock: dict[str, dt.datetime]) -> None:
    earned = earn_credential(client, credential_valid_days=400)
    document = earned["credential"]["credential"]
    url = share(client, earned["credential"]["id"], earned["learner"]["headers"])["url"]
    link = page(client, url).find(id="linkedin")
    assert isinstance(link, Tag)
    parts = urlsplit(str(link["href"]))
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.linkedin.com", "/profile/add")
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    issued = dt.datetime.fromisoformat(document["validFrom"].replace("Z", "+00:00"))
    expires = dt.datetime.fromisoformat(document["validUntil"].replace("Z", "+00:00"))
    assert query == {
        "startTask": "CERTIFICATION_NAME",
        "name": document["credentialSubject"]["achievement"]["name"],
        "organizationName": document["issuer"]["name"],
        "issueYear": str(issued.year), "issueMonth": str(issued.month),
        "expirationYear": str(expires.year), "expirationMonth": str(expires.month),
        "certUrl": url,
        "certId": document["id"],
    }


def _qr_matrix(svg: Tag) -> list[list[bool]]:
    """The modules of segno's SVG: one stroked path of horizontal runs (M/m moves, h runs) on a white square."""
    fill = svg.find("path", attrs={"fill": True})
    assert isinstance(fill, Tag)
    size = int(re.search(r"h(\d+)", str(fill["d"])).group(1))  # type: ignore[union-attr]
    grid = [[False] * size for _ in range(size)]
    path = svg.find("path", attrs={"stroke": True})
    assert isinstance(path, Tag)
    x = y = 0.0
    for command, first, second in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", str(path["d"])):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:
            for column in range(int(x), int(x + float(first))):
                grid[int(y)][column] = True
            x += float(first)
    return grid


def test_the_qr_code_decodes_to_the_page_url(client: TestClient, earned: dict[str, Any]) -> None:
    url = share(client, earned["credential"]["id"], earned["learner"]["headers"])["url"]
    svg = page(client, url).select_one(".qr svg")
    assert isinstance(svg, Tag) and svg["role"] == "img" and svg["aria-label"]
    grid = _qr_matrix(svg)
    scale = 4
    width = len(grid) * scale
    pixels = bytearray(b"\xff" * width * width)
    for row, modules in enumerate(grid):
        for column, dark in enumerate(modules):
            if dark:
                for dy in range(scale):
                    start = (row * scale + dy) * width + column * scale
                    pixels[start:start + scale] = b"\x00" * scale
    decoded = zxingcpp.read_barcodes(memoryview(pixels).cast("B", (width, width)))
    assert [barcode.text for barcode in decoded] == [url]


def test_everything_is_escaped(client: TestClient) -> None:
    script = "<script>alert(1)</script>"
    learner = new_learner(client, name=script + '" onmouseover="x')
    earned = earn_credential(client, learner=learner)
    url = share(client, earned["credential"]["id"], learner["headers"])["url"]
    response = client.get(url)
    assert script not in response.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    soup = parsed(response)
    assert not soup.find("script")
    assert text_of(soup, "holder-name") == script + '" onmouseover="x'
    assert not soup.find(attrs={"onmouseover": True})


def test_an_award_says_it_was_awarded_by_the_issuer(client: TestClient) -> None:
    learner = new_learner(client)
    body = {"credential": {"credentialSubject": {
        "id": learner["subject_id"], "achievement": {"id": f"{PUBLIC_URL}/v1/achievements/sql/intermediate"}}}}
    issued = client.post("/credentials/issue", json=body, headers=ADMIN)
    assert issued.status_code == 201, issued.text
    credential_id = issued.headers["Location"].rsplit("/", 1)[1]
    url = share(client, credential_id, learner["headers"], show_score=True)["url"]
    soup = page(client, url)
    assert "Awarded by the issuer" in text_of(soup, "award")
    assert soup.find(id="items-answered") is None and soup.find(id="score") is None
    assert status_of(soup) == "valid"
    assert verify_response(client, client.get(url + "/credential.jwt").text)["verified"] is True


def test_share_pages_are_rate_limited_as_public_routes() -> None:
    from app.ops.ratelimit import PUBLIC_ROUTES

    for template in ("/c/{share_id}", "/c/{share_id}/credential.jwt", "/c/{share_id}/credential.json",
                     "/c/{share_id}/badge.svg", "/c/{share_id}/badge.png"):
        assert PUBLIC_ROUTES[template] == "public"


@pytest.mark.parametrize("kind", ["svg", "png"])
def test_baked_badges_carry_the_credential_and_verify(client: TestClient, earned: dict[str, Any], kind: str) -> None:
    from app.credentials import baking

    credential = earned["credential"]
    url = share(client, credential["id"], earned["learner"]["headers"])["url"]
    response = client.get(f"{url}/badge.{kind}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == {"svg": "image/svg+xml", "png": "image/png"}[kind]
    assert response.headers["content-disposition"].startswith("inline")
    assert baking.kind_of(response.content) == kind
    baked = baking.extract(response.content)
    assert baked == credential["jwt"]
    assert verify_response(client, baked)["verified"] is True
    assert client.post(f"/v1/credentials/{credential['id']}/revoke", json={}, headers=ADMIN).status_code == 200
    assert [e["code"] for e in verify_response(client, baking.extract(client.get(f"{url}/badge.{kind}").content))[
        "errors"]] == ["revoked"]
    assert client.delete(f"/v1/credentials/{credential['id']}/share",
                         headers=earned["learner"]["headers"]).status_code == 204
    assert client.get(f"{url}/badge.{kind}").status_code == 410


def test_no_other_badge_formats(client: TestClient, earned: dict[str, Any]) -> None:
    url = share(client, earned["credential"]["id"], earned["learner"]["headers"])["url"]
    assert client.get(f"{url}/badge.gif").status_code == 404
    assert client.get("/c/" + "A" * 32 + "/badge.png").status_code == 404


def test_a_rate_limited_share_page_is_a_page_and_its_downloads_stay_json(settings: Settings) -> None:
    from app.main import create_app

    clear_of_a_minute_boundary()  # the limit below is counted to the request
    changed = Settings(**{**settings.model_dump(), "rate_limit_public": "2/minute"})
    with TestClient(create_app(changed), base_url=PUBLIC_URL, client=("203.0.113.78", 50000)) as limited:
        page_url = f"{PUBLIC_URL}/c/{'A' * 32}"
        assert limited.get(page_url).status_code == 404
        assert limited.get(page_url).status_code == 404
        refused = limited.get(page_url)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "Too many requests" in parsed(refused).get_text()
        assert refused.headers["referrer-policy"] == "no-referrer"
        download = limited.get(page_url + "/credential.jwt")
        assert download.status_code == 429 and download.json()["error"] == "rate_limited"
