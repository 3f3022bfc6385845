"""The credential document: OB 3.0 schema, defined terms, rubric order, image, public URLs, holder identifier."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft201909Validator

from app.credentials import badge_image, builder, identity, jsonld
from tests.conformance import OB3_SCHEMA, OB3_SCHEMAS, assert_ob3, ob3_errors
from tests.factories import earn_credential, new_assessment, new_learner

SCHEMA_SHA256 = "0ebdc36b2a975b93d6d3531ae6cdb7b234bf01ef6a51cd174cdab54eca3a1a14"
JSONLD_VARIANT_SHA256 = "86a141ff0c1b1a6b4e08460f786a8ffe0f737d8256a86243d134a2e6450efe4d"
JSONLD_VARIANT_ID = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json-ld/ob_v3p0_achievementcredential_schema.json"
)
PUBLISHED_SCHEMA_ID = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
SVG = "{http://www.w3.org/2000/svg}"


def _vc(earned: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = earned["credential"]["credential"]
    return document


def test_bundled_schema_is_the_pinned_file() -> None:
    assert hashlib.sha256(OB3_SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(OB3_SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == PUBLISHED_SCHEMA_ID
    assert schema["$schema"].startswith("https://json-schema.org/draft/2019-09/schema")
    Draft201909Validator.check_schema(schema)


def test_bundled_json_ld_variant_is_the_pinned_download() -> None:
    variant = OB3_SCHEMAS[1]
    assert hashlib.sha256(variant.read_bytes()).hexdigest() == JSONLD_VARIANT_SHA256
    schema = json.loads(variant.read_text(encoding="utf-8"))
    assert schema["$id"] == JSONLD_VARIANT_ID
    Draft201909Validator.check_schema(schema)


def test_credentials_of_every_shape_validate(client: TestClient) -> None:
    shapes = {
        "mastery bands given out of order": earn_credential(client, mastery_bands=[
            {"name": "Expert", "min_percent": 95}, {"name": "Novice", "min_percent": 10},
            {"name": "Practitioner", "min_percent": 60},
        ]),
        "expiry": earn_credential(client, credential_valid_days=30),
        "DID subject": earn_credential(client, learner=new_learner(
            client, did="did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")),
        "email identifier": earn_credential(client, learner=new_learner(client, email="ada@example.com")),
    }
    for name, earned in shapes.items():
        vc = _vc(earned)
        assert_ob3(vc)  # earn_credential did too; named here so a failure says which shape
        assert name and vc["credentialSubject"]["achievement"]["image"]["type"] == "Image"
    assert "validUntil" in _vc(shapes["expiry"])
    assert _vc(shapes["DID subject"])["credentialSubject"]["id"].startswith("did:key:z6Mk")
    assert "identifier" in _vc(shapes["email identifier"])["credentialSubject"]


def test_the_schema_refuses_what_open_badges_forbids(client: TestClient) -> None:
    vc = _vc(earn_credential(client))
    base = copy.deepcopy(vc)
    assert ob3_errors(base) == []

    two_statuses = copy.deepcopy(base)
    two_statuses["credentialStatus"] = [base["credentialStatus"], base["credentialStatus"]]
    assert any(error.startswith("credentialStatus") for error in ob3_errors(two_statuses))

    imageless = copy.deepcopy(base)
    del imageless["credentialSubject"]["achievement"]["image"]["id"]
    assert any("image" in error for error in ob3_errors(imageless))

    bad_identity = copy.deepcopy(base)
    bad_identity["credentialSubject"]["identifier"] = [{"type": "IdentityObject", "identityHash": "x"}]
    assert any("identifier" in error for error in ob3_errors(bad_identity))

    undated = copy.deepcopy(base)
    undated["validFrom"] = "yesterday"
    assert any(error.startswith("validFrom") for error in ob3_errors(undated))


def test_every_term_is_defined_by_the_credential_s_own_contexts(client: TestClient) -> None:
    vc = _vc(earn_credential(client))
    assert vc["@context"][:2] == [builder.VC_CONTEXT_V2, builder.OB_CONTEXT]
    inline = vc["@context"][-1]
    assert inline == builder.SKILLPROOF_CONTEXT
    terms = [term for term in inline if not term.startswith("@") and term != builder.TERMS_PREFIX]
    assert {"assessmentId", "attemptId", "contentHash", "itemsAnswered", "proctoring"} <= set(terms)
    # Compact IRIs on one prefix, absolute and the same for every deployment: nothing of this issuer's URL or DID.
    assert inline[builder.TERMS_PREFIX] == builder.TERMS_NAMESPACE
    assert builder.TERMS_NAMESPACE.startswith("urn:uuid:") and "skillproof.test" not in builder.TERMS_NAMESPACE
    for term in terms:
        assert inline[term] == f"{builder.TERMS_PREFIX}:{term}"

    jwt_free = {key: value for key, value in vc.items() if key not in {"iss", "sub", "jti", "nbf", "exp"}}
    expanded = json.dumps(jsonld.expand_safe(jwt_free))
    assert builder.TERMS_NAMESPACE + "contentHash" in expanded and vc["evidence"][0]["contentHash"] in expanded
    # Each term expands to the IRI credentials issued with the terms written out in full carried.
    for term in terms:
        if term in vc["evidence"][0]:
            assert f'"{builder.TERMS_NAMESPACE}{term}"' in expanded, term

    for term in terms:
        if term not in vc["evidence"][0]:
            continue
        undefined = copy.deepcopy(jwt_free)
        del undefined["@context"][-1][term]
        with pytest.raises(jsonld.UndefinedTerm, match=term):
            jsonld.expand_safe(undefined)


def test_rubric_levels_run_from_low_to_high(client: TestClient) -> None:
    earned = earn_credential(client, mastery_bands=[
        {"name": "Expert", "min_percent": 95}, {"name": "Novice", "min_percent": 10},
        {"name": "Practitioner", "min_percent": 60},
    ])
    descriptions = _vc(earned)["credentialSubject"]["achievement"]["resultDescription"]
    rubric = next(d for d in descriptions if d["resultType"] == "RubricCriterionLevel")
    assert [level["name"] for level in rubric["rubricCriterionLevel"]] == ["Novice", "Practitioner", "Expert"]
    achieved = _vc(earned)["credentialSubject"]["result"][1]["achievedLevel"]
    assert achieved == rubric["rubricCriterionLevel"][-1]["id"]  # all answers right: the top level

    default = _vc(earn_credential(client))["credentialSubject"]["achievement"]["resultDescription"][1]
    assert [level["name"] for level in default["rubricCriterionLevel"]] == ["Foundation", "Proficient", "Advanced"]


def test_the_achievement_image_is_a_public_cacheable_svg(client: TestClient) -> None:
    vc = _vc(earn_credential(client, skill="sql", level="intermediate"))
    image = vc["credentialSubject"]["achievement"]["image"]
    assert image["id"] == vc["credentialSubject"]["achievement"]["id"] + "/image.svg" and image["caption"]
    response = client.get(image["id"])  # no key
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert "public" in response.headers["cache-control"] and "max-age=" in response.headers["cache-control"]
    root = ET.fromstring(response.content)  # noqa: S314 - our own server's bytes, in a test
    assert root.tag == f"{SVG}svg"
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "INTERMEDIATE" in texts and vc["issuer"]["name"] in texts
    assert any(text and "SQL" in text for text in texts)
    # Self-contained: no links, scripts, images or foreign objects a viewer would have to fetch or run.
    body = response.text
    assert not re.search(r"href|<script|<image|<foreignObject|url\(", body)

    other_level = client.get(image["id"].replace("/intermediate/", "/foundation/"))
    assert other_level.status_code == 200 and other_level.content != response.content
    for missing in ("/v1/achievements/sql/grandmaster/image.svg", "/v1/achievements/nope/foundation/image.svg"):
        absent = client.get(missing)
        assert absent.status_code == 404 and absent.json()["error"] == "not_found"


def test_the_image_escapes_what_it_is_given() -> None:
    svg = badge_image.achievement_svg(
        skill_id="x", skill_name='<script>alert("x")</script>', level="a&b", issuer_name="Fish & Chips <Ltd>"
    )
    root = ET.fromstring(svg)  # noqa: S314 - our own function's output, in a test
    assert not any(element.tag.endswith("script") for element in root.iter())
    assert "Fish & Chips <Ltd>" in [element.text for element in root.iter(f"{SVG}text")]
    assert svg == badge_image.achievement_svg(
        skill_id="x", skill_name='<script>alert("x")</script>', level="a&b", issuer_name="Fish & Chips <Ltd>"
    )


def test_the_achievement_url_resolves_without_a_key(client: TestClient) -> None:
    vc = _vc(earn_credential(client, skill="git", level="foundation"))
    achievement = vc["credentialSubject"]["achievement"]
    response = client.get(achievement["id"])
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    public = response.json()
    assert public["id"] == achievement["id"] and public["image"] == achievement["image"]
    assert public["name"] == achievement["name"] and public["creator"]["id"] == vc["issuer"]["id"]
    jsonld.expand_safe(public)
    schema = json.loads(OB3_SCHEMA.read_text(encoding="utf-8"))
    achievement_schema = Draft201909Validator(
        {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/Achievement"},
        format_checker=Draft201909Validator.FORMAT_CHECKER,
    )
    assert [error.message for error in achievement_schema.iter_errors(public)] == []
    assert client.get("/v1/achievements/git/grandmaster").status_code == 404


def test_the_evidence_url_resolves_without_a_key_and_shows_no_items(client: TestClient) -> None:
    earned = earn_credential(client, skill="python", level="foundation", item_count=5, time_limit_seconds=900)
    evidence = _vc(earned)["evidence"][0]
    assessment = earned["assessment"]
    assert evidence["id"].endswith(f"/v1/assessments/{assessment['id']}/evidence")
    response = client.get(evidence["id"])  # no key
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["id"] == evidence["id"]
    assert view["content_hash"] == evidence["contentHash"] == assessment["content_hash"]
    assert evidence["assessmentId"] == view["assessment_id"] == assessment["id"]
    assert (view["title"], view["skill"], view["level"]) == (assessment["title"], "python", "foundation")
    assert view["item_count"] == assessment["item_count"] == 5
    assert view["time_limit_seconds"] == 900 and view["pass_percent"] == assessment["pass_percent"]
    assert view["published_at"] == assessment["published_at"]
    # The criteria (level descriptor, blueprint) count items per competency; no item itself is shown.
    assert "Each attempt draws" in view["criteria"] and view["blueprint"] == assessment["blueprint"]

    def members(value: object) -> list[tuple[str, object]]:
        if isinstance(value, dict):
            return [*value.items(), *(pair for inner in value.values() for pair in members(inner))]
        return [pair for inner in value for pair in members(inner)] if isinstance(value, list) else []

    assert not {"answer", "explanation", "rubric", "seed", "prompt"} & {name for name, _ in members(view)}
    assert all(isinstance(value, int) for name, value in members(view) if name == "items")  # counts only
    for item in assessment["items"]:
        assert item["prompt"] not in response.text and item["explanation"] not in response.text

    draft = new_assessment(client, publish=False)
    for hidden in (draft["id"], "00000000-0000-4000-8000-000000000000"):
        absent = client.get(f"/v1/assessments/{hidden}/evidence")
        assert absent.status_code == 404 and absent.json()["error"] == "not_found"


def test_the_identity_hash_follows_the_open_badges_rule() -> None:
    # OB 3.0 IdentityHash: the spec's own example, 'a@example.com' salted with 'Kosher'.
    assert identity.identity_hash("a@example.com", "Kosher") == (
        "sha256$b5809d8a92f8858436d7e6b87c12ebc0ae1eac4baecc2c0b913aee2c922ef399"
    )
    entry = identity.email_identity("  A@Example.COM ", "Kosher")
    assert entry["identityHash"] == identity.identity_hash("a@example.com", "Kosher")
    assert identity.matches_email([entry], "a@example.com") and identity.matches_email([entry], " A@EXAMPLE.com")
    assert not identity.matches_email([entry], "b@example.com")
    upper = {**entry, "identityHash": entry["identityHash"].upper().replace("SHA256$", "sha256$")}
    assert identity.matches_email([upper], "a@example.com")  # OB allows upper-case hex
    assert not identity.matches_email([{**entry, "identityType": "name"}], "a@example.com")
    plain = {"type": "IdentityObject", "identityHash": "A@example.com", "identityType": "emailAddress",
             "hashed": False}
    assert identity.matches_email([plain], "a@example.com")


def test_the_holder_identifier_is_the_salted_hashed_email(client: TestClient) -> None:
    learner = new_learner(client, email="Ada.Lovelace@Example.COM")
    first = _vc(earn_credential(client, learner=learner))["credentialSubject"]["identifier"]
    second = _vc(earn_credential(client, learner=learner, skill="git"))["credentialSubject"]["identifier"]
    for identifier in (first, second):
        assert len(identifier) == 1
        entry = identifier[0]
        assert {key: entry[key] for key in ("type", "identityType", "hashed")} == {
            "type": "IdentityObject", "identityType": "emailAddress", "hashed": True}
        assert re.fullmatch(r"[0-9a-f]{32}", entry["salt"])
        digest = hashlib.sha256(("ada.lovelace@example.com" + entry["salt"]).encode()).hexdigest()
        assert entry["identityHash"] == f"sha256${digest}"
        assert "lovelace" not in json.dumps(entry).lower()
    assert first[0]["salt"] != second[0]["salt"] and first[0]["identityHash"] != second[0]["identityHash"]

    no_email = _vc(earn_credential(client, learner=new_learner(client)))
    assert "identifier" not in no_email["credentialSubject"]

