"""app.credentials.jsonld: bundled contexts pinned by digest, an offline loader, safe-mode expansion."""

from __future__ import annotations

import copy
import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from app.credentials import builder, jsonld

CONTEXTS = Path(jsonld.__file__).parent / "contexts"

# SHA-256 of each bundled file, written here independently of contexts/manifest.json. VC DM 2.0 §B.1 and
# VC Data Integrity §2.4 publish the digests of their contexts; the OB 3.0.3 and DID v1 ones are pinned by us.
PINNED = {
    "https://www.w3.org/ns/credentials/v2": "59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": (
        "ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761"
    ),
    "https://w3id.org/security/data-integrity/v2": "67f21e6e33a6c14e5ccfd2fc7865f7474fb71a04af7e94136cb399dfac8ae8f4",
    "https://w3id.org/security/multikey/v1": "ba2c182de2d92f7e47184bcca8fcf0beaee6d3986c527bf664c195bbc7c58597",
    "https://w3id.org/security/jwk/v1": "0f14b62f6071aafe00df265770ea0c7508e118247d79b7d861a406d2aa00bece",
    "https://www.w3.org/ns/did/v1": "62c1054bf404d6dd3a4b26b64f830fd72095f6a26edc4469908c94351352ce5f",
}


def credential(**changes: Any) -> dict[str, Any]:
    """A credential of the builder's shape whose every term the bundled contexts define."""
    vc: dict[str, Any] = {
        "@context": [builder.VC_CONTEXT_V2, builder.OB_CONTEXT],
        "id": "urn:uuid:5c0f7a7e-1b5e-4a0e-9d7b-3f1c2a8e6b11",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "Python (intermediate)",
        "issuer": {"id": "did:web:skillproof.example", "type": ["Profile"], "name": "Skillproof"},
        "validFrom": "2026-12-01T00:00:00Z",
        "credentialSubject": {
            "id": "urn:uuid:7a1d0b5e-2c3f-4d6a-8b9c-0e1f2a3b4c5d",
            "type": ["AchievementSubject"],
            "achievement": {
                "id": "https://skillproof.example/v1/achievements/python/intermediate",
                "type": ["Achievement"],
                "name": "Python (intermediate)",
                "criteria": {"narrative": "Scored at least 70%."},
            },
        },
    }
    vc.update(changes)
    return vc


def test_every_bundled_context_matches_its_pinned_digest_and_the_manifest() -> None:
    manifest = json.loads((CONTEXTS / "manifest.json").read_text())["contexts"]
    assert set(manifest) == set(PINNED)
    for url, digest in PINNED.items():
        data = (CONTEXTS / manifest[url]["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, url
        assert manifest[url]["sha256"] == digest
        assert jsonld.document_loader(url)["document"] == json.loads(data)


def test_the_loader_never_fetches_an_unknown_context(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a JSON-LD context was fetched")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(jsonld.UnknownContext, match=r"https://example\.com/ctx"):
        jsonld.document_loader("https://example.com/ctx")
    with pytest.raises(jsonld.UnknownContext):
        jsonld.expand_safe(credential(**{"@context": [builder.VC_CONTEXT_V2, "https://example.com/ctx"]}))
    # A near miss of a bundled URL is still unknown: no normalisation, no fallback.
    with pytest.raises(jsonld.UnknownContext):
        jsonld.expand_safe(credential(**{"@context": ["http://www.w3.org/ns/credentials/v2", builder.OB_CONTEXT]}))


def test_a_credential_whose_terms_are_all_defined_expands_and_canonicalises() -> None:
    expanded = jsonld.expand_safe(credential())
    assert expanded[0]["@type"] == [
        "https://www.w3.org/2018/credentials#VerifiableCredential",
        "https://purl.imsglobal.org/spec/vc/ob/vocab.html#OpenBadgeCredential",
    ]
    nquads = jsonld.canonize(credential())
    assert "<urn:uuid:5c0f7a7e-1b5e-4a0e-9d7b-3f1c2a8e6b11> <https://www.w3.org/2018/credentials#issuer>" in nquads
    assert nquads == jsonld.canonize(json.loads(json.dumps(credential(), sort_keys=True)))  # order-independent


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda vc: vc["credentialSubject"].update(contentHash="sha256:ab"), "contentHash"),
        (lambda vc: vc.update(type=["VerifiableCredential", "SkillCredential"]), "SkillCredential"),
        (lambda vc: vc["credentialSubject"]["achievement"].update(id="achievements/python"), "Relative @id"),
        (lambda vc: vc["issuer"].update({"_:b0": "x"}), "_:b0"),
    ],
    ids=["undefined-property", "undefined-type", "relative-id", "blank-node-predicate"],
)
def test_safe_mode_refuses_what_plain_expansion_would_silently_drop(change: Any, message: str) -> None:
    vc = copy.deepcopy(credential())
    change(vc)
    with pytest.raises(jsonld.UndefinedTerm, match=message):
        jsonld.expand_safe(vc)
    with pytest.raises(jsonld.UndefinedTerm):
        jsonld.canonize(vc)


@pytest.mark.parametrize(
    "document",
    [
        {"@context": {"@version": 2}},
        {"@context": 5, "id": "urn:x"},
        {"@context": builder.VC_CONTEXT_V2, "@id": 7},
    ],
)
def test_invalid_json_ld_is_a_typed_error(document: dict[str, Any]) -> None:
    with pytest.raises(jsonld.JsonLdError):
        jsonld.expand_safe(document)
