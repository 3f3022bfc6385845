"""The human verify page: GET /verify (the form) and POST /verify (the verdict and each check in plain words)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient

from app.config import Settings
from app.credentials import baking, jose
from app.credentials.badge_image import achievement_svg
from app.credentials.badge_png import png_of
from app.main import create_app
from app.pages import render
from tests.conftest import ADMIN_KEY, PUBLIC_URL
from tests.factories import ADMIN, bearer, clear_of_a_minute_boundary, earn_credential, new_learner
from tests.node import check_page
from tests.servers import fresh_server

EMAIL = "grace@example.com"


def soup_of(response: httpx.Response) -> BeautifulSoup:
    assert response.headers["content-type"].startswith("text/html"), response.headers["content-type"]
    return BeautifulSoup(response.text, "html.parser")


def text_of(soup: BeautifulSoup, element_id: str) -> str:
    element = soup.find(id=element_id)
    assert isinstance(element, Tag), f"no #{element_id}"
    return " ".join(element.get_text(" ").split())


def post(client: TestClient, credential: str = "", holder: str = "",
         badge: tuple[str, bytes, str] | None = None) -> httpx.Response:
    """The form as a browser sends it: multipart/form-data, the file part present even when empty."""
    files = {"badge": badge or ("", b"", "application/octet-stream")}
    return client.post("/verify", data={"credential": credential, "holder": holder}, files=files)


def verdict(response: httpx.Response, status: int = 200) -> tuple[BeautifulSoup, str, dict[str, str]]:
    """(page, verdict key, {check key: state}) of a result page."""
    assert response.status_code == status, response.text
    soup = soup_of(response)
    box = soup.find(id="verdict")
    assert isinstance(box, Tag) and box.get("role") == "status"
    states = {str(li["id"]).removeprefix("check-"): str(li["data-state"]) for li in soup.select("#checks li")}
    return soup, str(box["data-verdict"]), states


def error_of(response: httpx.Response, status: int, field: str = "credential") -> str:
    """The message of a refused form: on the same page, tied to its field, with the right status."""
    assert response.status_code == status, response.text
    soup = soup_of(response)
    assert soup.find(id="verdict") is None
    control = soup.find(id=field)
    assert isinstance(control, Tag) and control.get("aria-invalid") == "true"
    assert f"{field}-error" in str(control["aria-describedby"]).split()
    summary = soup.find(id="error-summary")
    assert isinstance(summary, Tag) and summary.get("role") == "alert"
    assert summary.find("a", href=f"#{field}")
    return text_of(soup, f"{field}-error")


@pytest.fixture
def earned(client: TestClient) -> dict[str, Any]:
    return earn_credential(client, learner=new_learner(client, name="Grace Hopper", email=EMAIL))


def badge_svg() -> str:
    return achievement_svg(skill_id="python", skill_name="Python programming", level="foundation",
                           issuer_name="Skillproof")


# -- the form -----------------------------------------------------------------------------------------------


def test_the_form_is_labelled_and_posts_to_itself(client: TestClient) -> None:
    response = client.get("/verify")
    assert response.status_code == 200
    soup = soup_of(response)
    assert soup.html is not None and soup.html["lang"] == "en"
    form = soup.find("form")
    assert isinstance(form, Tag)
    assert (form["action"], form["method"], form["enctype"]) == ("/verify", "post", "multipart/form-data")
    for name in ("credential", "badge", "holder"):
        control = form.find(attrs={"name": name})
        assert isinstance(control, Tag), name
        label = form.find("label", attrs={"for": control["id"]})
        assert isinstance(label, Tag) and label.get_text(strip=True), name
        assert control.get("aria-describedby"), name  # each field's hint is read with it
    assert form.find("fieldset") and form.find("legend")
    assert form.find("button", attrs={"type": "submit"})
    assert soup.find("main") and soup.find("header") and soup.find("footer")
    levels = [int(h.name[1]) for h in soup.find_all(re.compile("^h[1-6]$"))]
    assert levels[0] == 1 and len(soup.find_all("h1")) == 1
    assert all(after <= before + 1 for before, after in itertools.pairwise(levels))
    assert not soup.find("script")
    # The form page may be indexed; it is static.
    assert "x-robots-tag" not in response.headers and not soup.find("meta", attrs={"name": "robots"})


# -- verdicts -------------------------------------------------------------------------------------------------


def test_a_pasted_jws_is_valid_and_every_check_is_explained(client: TestClient, earned: dict[str, Any]) -> None:
    soup, key, states = verdict(post(client, earned["credential"]["jwt"]))
    assert key == "valid"
    assert "Verdict: Valid" in text_of(soup, "verdict")
    assert states == {"issuer": "ok", "signature": "ok", "dates": "ok", "format": "ok", "status": "ok",
                      "holder": "none"}
    document = earned["credential"]["credential"]
    assert document["issuer"]["id"] in text_of(soup, "check-issuer") and "this service" in text_of(soup, "check-issuer")
    assert "The signature holds" in text_of(soup, "check-signature")
    assert "Does not expire" in text_of(soup, "check-dates") and "Issued and valid from" in text_of(soup, "check-dates")
    assert "neither revoked nor suspended" in text_of(soup, "check-status")
    assert "No email address was typed" in text_of(soup, "check-holder")
    assert text_of(soup, "skill") == "Python programming" and text_of(soup, "level") == "foundation"
    assert text_of(soup, "mastery") == earned["grade"]["mastery"]
    # Colour and words: each state has its class and its word.
    first = soup.select_one("#checks li")
    assert first is not None and "check-ok" in first["class"] and "Passed" in first.get_text()


def test_the_ldp_json_verifies(client: TestClient, earned: dict[str, Any]) -> None:
    import json

    ldp = earned["credential"]["ldp"]
    if ldp is None:
        pytest.skip("this credential has no ldp form")
    _, key, states = verdict(post(client, json.dumps(ldp, indent=2)))
    assert key == "valid" and states["signature"] == "ok"
    # The API's own answer shapes are accepted too.
    _, key, _ = verdict(post(client, json.dumps({"verifiableCredential": earned["credential"]["jwt"]})))
    assert key == "valid"


def test_a_share_link_is_resolved_by_its_share_id(client: TestClient, earned: dict[str, Any]) -> None:
    shared = client.post(f"/v1/credentials/{earned['credential']['id']}/share", json={},
                         headers=earned["learner"]["headers"]).json()
    soup, key, _ = verdict(post(client, shared["url"]))
    assert key == "valid"
    assert shared["url"] in text_of(soup, "verdict")
    assert text_of(soup, "learner") == "Grace Hopper"  # the name the learner shows on the share page
    _, key, _ = verdict(post(client, shared["url"] + "/credential.jwt"))
    assert key == "valid"


@pytest.mark.parametrize("kind", ["png", "svg"])
def test_a_baked_badge_upload_verifies(client: TestClient, earned: dict[str, Any], kind: str) -> None:
    jwt = earned["credential"]["jwt"]
    if kind == "png":
        image = baking.bake_png(png_of(badge_svg()), jwt)
        badge = ("badge.png", image, "image/png")
    else:
        badge = ("badge.svg", baking.bake_svg(badge_svg(), jwt).encode(), "image/svg+xml")
    soup, key, _ = verdict(post(client, badge=badge, holder=EMAIL))
    assert key == "valid"
    assert f"uploaded {kind.upper()} badge" in text_of(soup, "verdict")
    assert "Matches" in text_of(soup, "check-holder")


def test_revoked_and_suspended_say_so(client: TestClient, earned: dict[str, Any]) -> None:
    credential_id, jwt = earned["credential"]["id"], earned["credential"]["jwt"]
    assert client.post(f"/v1/credentials/{credential_id}/suspend", headers=ADMIN).status_code == 200
    soup, key, states = verdict(post(client, jwt))
    assert key == "suspended" and states["status"] == "fail" and states["signature"] == "ok"
    assert "Verdict: Suspended" in text_of(soup, "verdict") and "Suspended" in text_of(soup, "check-status")
    assert client.post(f"/v1/credentials/{credential_id}/reinstate", headers=ADMIN).status_code == 200
    assert verdict(post(client, jwt))[1] == "valid"
    assert client.post(f"/v1/credentials/{credential_id}/revoke", headers=ADMIN).status_code == 200
    soup, key, _ = verdict(post(client, jwt))
    assert key == "revoked" and "Verdict: Revoked" in text_of(soup, "verdict")
    box = soup.find(id="verdict")
    assert isinstance(box, Tag) and "status-revoked" in box["class"]


def test_the_holder_email_matches_or_not(client: TestClient, earned: dict[str, Any]) -> None:
    jwt = earned["credential"]["jwt"]
    soup, key, states = verdict(post(client, jwt, holder="  Grace@Example.com "))
    assert key == "valid" and states["holder"] == "ok"
    assert "Matches Grace@Example.com" in text_of(soup, "check-holder")
    soup, key, states = verdict(post(client, jwt, holder="someone.else@example.com"))
    assert key == "holder_mismatch" and states["holder"] == "fail" and states["signature"] == "ok"
    assert "Does not match someone.else@example.com" in text_of(soup, "check-holder")
    assert "not issued to the person you named" in text_of(soup, "verdict")
    message = error_of(post(client, jwt, holder="not an email"), 422, "holder")
    assert "email address" in message


def test_a_tampered_token_says_the_signature_does_not_hold(client: TestClient, earned: dict[str, Any]) -> None:
    header, payload, signature = earned["credential"]["jwt"].split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    soup, key, states = verdict(post(client, f"{header}.{payload}.{flipped}"))
    assert key == "invalid" and states["signature"] == "fail"
    assert "The signature does not hold" in text_of(soup, "check-signature")
    assert states["status"] == "unknown" and states["dates"] == "unknown"
    assert soup.find(id="details") is None  # nothing the credential says is shown as fact
    problems = text_of(soup, "problems")
    assert "changed after it was signed" in problems and "invalid_signature" not in problems


def test_an_untrusted_issuer_is_named_and_not_trusted(client: TestClient, earned: dict[str, Any]) -> None:
    payload = jose.parse_compact(earned["credential"]["jwt"]).payload
    forged = {**payload, "issuer": {**payload["issuer"], "id": "did:web:evil.example", "name": "Evil Academy"}}
    token = jose.sign_compact(forged, ed25519.Ed25519PrivateKey.generate(), kid="k1", alg="EdDSA")
    soup, key, states = verdict(post(client, token))
    assert key == "invalid" and states["issuer"] == "fail"
    assert "Not trusted: Evil Academy (did:web:evil.example)" in text_of(soup, "check-issuer")
    assert states["signature"] == "unknown"


# -- bad input --------------------------------------------------------------------------------------------------


def test_empty_and_garbage_get_clear_messages(client: TestClient) -> None:
    assert "nothing to check" in error_of(post(client), 400).lower()
    url_encoded = client.post("/verify", data={"credential": " "})  # no file part at all
    assert "nothing to check" in error_of(url_encoded, 400).lower()
    assert "not a credential we recognise" in error_of(post(client, "hello, is this my badge?"), 422)
    assert "not valid JSON" in error_of(post(client, '{"type": '), 422)
    assert "not a credential with a proof" in error_of(post(client, '{"type": "VerifiableCredential"}'), 422)
    assert "repeats a key" in error_of(post(client, '{"proof": 1, "proof": 2}'), 422)
    # A JWS-shaped text that is no JWS is a verdict (not valid), not an error.
    _, key, states = verdict(post(client, "aaaa.bbbb.cccc"))
    assert key == "invalid" and states["signature"] == "fail"
    # A JSON body is not the form.
    response = client.post("/verify", json={"verifiableCredential": "x"})
    assert response.status_code == 400 and "form" in soup_of(response).get_text()


def test_the_form_keeps_what_was_typed_and_escapes_it(client: TestClient) -> None:
    script = "<script>alert(1)</script>"
    response = post(client, script, holder="a@b.example")
    assert response.status_code == 422 and script not in response.text
    soup = soup_of(response)
    textarea = soup.find("textarea", id="credential")
    assert isinstance(textarea, Tag) and textarea.get_text() == script
    holder = soup.find("input", id="holder")
    assert isinstance(holder, Tag) and holder["value"] == "a@b.example"


def test_files_that_are_no_badge_or_hold_no_credential(client: TestClient, earned: dict[str, Any]) -> None:
    plain_png = ("badge.png", png_of(badge_svg()), "image/png")
    assert "no credential baked in" in error_of(post(client, badge=plain_png), 422, "badge")
    plain_svg = ("badge.svg", badge_svg().encode(), "image/svg+xml")
    assert "no credential baked in" in error_of(post(client, badge=plain_svg), 422, "badge")
    text_file = ("notes.txt", b"just some notes", "text/plain")
    assert "not a badge image" in error_of(post(client, badge=text_file), 422, "badge")
    broken = ("badge.png", baking.PNG_SIGNATURE + b"\x00" * 40, "image/png")
    assert "cannot be read" in error_of(post(client, badge=broken), 422, "badge")
    assert "empty" in error_of(post(client, badge=("empty.png", b"", "image/png")), 422, "badge")
    both = post(client, earned["credential"]["jwt"], badge=("b.svg", baking.bake_svg(
        badge_svg(), earned["credential"]["jwt"]).encode(), "image/svg+xml"))
    assert "not both" in error_of(both, 400)


def test_oversized_uploads_and_text_are_413_pages(client: TestClient, settings: Settings) -> None:
    huge = ("badge.png", baking.PNG_SIGNATURE + b"\x00" * baking.MAX_IMAGE_BYTES, "image/png")
    assert "MB" in error_of(post(client, badge=huge), 413, "badge")
    # Far beyond the whole form's limit: refused from its Content-Length, before the body is read.
    response = client.post("/verify", content=b"x" * (baking.MAX_IMAGE_BYTES * 2),
                           headers={"content-type": "multipart/form-data; boundary=zz"})
    assert response.status_code == 413 and "MB" in error_of(response, 413, "badge")
    # The same without a Content-Length (a streamed body): the count stops it.
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"y" * (1024 * 1024)

    response = client.post("/verify", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zz"})
    assert response.status_code == 413
    long_text = "a" * (settings.verify_max_body_bytes + 1)
    assert "KB" in error_of(post(client, long_text), 413)
    # An image just under the cap is read (and judged), not refused for its size.
    near = ("badge.png", baking.PNG_SIGNATURE + b"\x00" * (baking.MAX_IMAGE_BYTES - 100), "image/png")
    assert post(client, badge=near).status_code == 422


def test_share_links_of_other_sites_or_unknown_shares(client: TestClient, earned: dict[str, Any]) -> None:
    shared = client.post(f"/v1/credentials/{earned['credential']['id']}/share", json={},
                         headers=earned["learner"]["headers"]).json()
    share_id = shared["share_id"]
    assert "only open links" in error_of(post(client, f"https://evil.example/c/{share_id}"), 422)
    assert "only open links" in error_of(post(client, f"http://skillproof.test/c/{share_id}"), 422)  # not https
    assert "only open links" in error_of(post(client, f"{PUBLIC_URL}:8443/c/{share_id}"), 422)
    assert "not a credential's share page" in error_of(post(client, f"{PUBLIC_URL}/v1/skills"), 422)
    assert "no shared credential" in error_of(post(client, f"{PUBLIC_URL}/c/{'A' * 32}"), 404)
    assert "no shared credential" in error_of(post(client, f"{PUBLIC_URL}/c/short"), 404)
    client.delete(f"/v1/credentials/{earned['credential']['id']}/share", headers=earned["learner"]["headers"])
    assert "taken its page down" in error_of(post(client, shared["url"]), 410)


# -- limits and headers -------------------------------------------------------------------------------------------


def test_the_page_shares_the_verify_rate_limit(settings: Settings) -> None:
    clear_of_a_minute_boundary()  # the limit below is counted to the request
    changed = Settings(**{**settings.model_dump(), "rate_limit_verify": "3/minute"})
    with TestClient(create_app(changed), base_url=PUBLIC_URL, client=("203.0.113.77", 50000)) as limited:
        assert limited.post("/v1/credentials/verify", json={"verifiableCredential": "x"}).status_code == 200
        assert limited.get("/verify").status_code == 200
        assert post(limited, "aaaa.bbbb.cccc").status_code == 200
        refused = post(limited, "aaaa.bbbb.cccc")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        # A person gets a page saying what to do, with the pages' headers; the API's refusal stays JSON.
        assert refused.headers["content-type"].startswith("text/html")
        assert "Too many requests" in soup_of(refused).get_text() and "try again" in soup_of(refused).get_text()
        assert refused.headers["content-security-policy"].startswith("default-src 'none'")
        assert limited.get("/verify").status_code == 429
        # The API's verify is out too: one group, one budget.
        api = limited.post("/v1/credentials/verify", json={"verifiableCredential": "x"})
        assert api.status_code == 429 and api.json()["error"] == "rate_limited"
        assert limited.get("/.well-known/jwks.json").status_code == 200  # another group


def test_security_headers(client: TestClient, earned: dict[str, Any]) -> None:
    form = client.get("/verify")
    result = post(client, earned["credential"]["jwt"])
    refused = post(client)
    for response in (form, result, refused):
        csp = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
        assert csp["form-action"] == "'self'" and csp["default-src"] == "'none'"
        assert csp["frame-ancestors"] == "'none'" and "script-src" not in csp
        style = soup_of(response).find("style")
        assert isinstance(style, Tag)
        digest = base64.b64encode(hashlib.sha256(style.get_text().encode()).digest()).decode()
        assert csp["style-src"] == f"'sha256-{digest}'" == f"'{render.CSS_HASH}'"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    for response in (result, refused):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-robots-tag"] == "noindex"
        assert soup_of(response).find("meta", attrs={"name": "robots", "content": "noindex"})
    assert form.headers["cache-control"] == "no-cache"


# -- in a real browser --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """skillproof serve on 127.0.0.1 (the browser needs a real server); yields its URL."""
    root = tmp_path_factory.mktemp("verify-page-server")
    with fresh_server(root, ADMIN_KEY, public_host="localhost") as (url, _):
        yield url


def _keyboard_usable(view: dict[str, Any]) -> None:
    reached = {(item["tag"], item["text"]) for item in view["focusOrder"]}
    tags = [item["tag"] for item in view["focusOrder"]]
    assert "textarea" in tags and tags.count("input") >= 2, view["focusOrder"]
    assert ("button", "Check the credential") in reached, view["focusOrder"]
    assert all(item["visibleFocus"] for item in view["focusOrder"]), view["focusOrder"]
    assert not view["scrollsSideways"]


def test_the_form_in_a_browser(server: str) -> None:
    views = check_page(f"{server}/verify", name="verify-form", selectors={"title": "h1"})
    assert set(views) == {"narrow", "wide"}
    for label, view in views.items():
        assert view["status"] == 200, label
        assert view["violations"] == [], (label, view["violations"])
        assert view["texts"]["title"] == "Verify a credential"
        _keyboard_usable(view)


def test_a_result_in_a_browser(server: str) -> None:
    with httpx.Client(base_url=server.replace("localhost", "127.0.0.1"), headers=bearer(ADMIN_KEY),
                      timeout=60) as http:
        earned = earn_credential(http, item_count=3)  # type: ignore[arg-type]  # httpx.Client is TestClient's base
    views = check_page(
        f"{server}/verify", name="verify-result",
        selectors={"verdict": "#verdict-label", "signature": "#check-signature .answer"},
        form={"fill": {"#credential": earned["credential"]["jwt"]}, "submit": "#check"},
    )
    for label, view in views.items():
        assert view["status"] == 200, label
        assert view["texts"]["verdict"] == "Verdict: Valid", label
        assert view["texts"]["signature"] == "The signature holds"
        assert view["violations"] == [], (label, view["violations"])
        assert not view["scrollsSideways"]
    errors = check_page(f"{server}/verify", name="verify-error", selectors={"error": "#credential-error"},
                        form={"fill": {"#credential": "not a credential"}, "submit": "#check"},
                        viewports=(("wide", 1280, 900),))
    assert "not a credential we recognise" in errors["wide"]["texts"]["error"]
    assert errors["wide"]["status"] == 422 and errors["wide"]["violations"] == []
