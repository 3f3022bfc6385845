"""app.credentials.data_integrity: the W3C vc-di-eddsa vectors reproduce, and every tampering is refused."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from app.credentials import data_integrity as di
from app.credentials import jose, jsonld
from tests import vectors
from tests.factories import earn_credential, verify_codes
from tests.test_jsonld import credential as safe_credential

VECTORS = Path(__file__).parent / "vectors" / "vc-di-eddsa"
EXAMPLES_CONTEXT = "https://www.w3.org/ns/credentials/examples/v2"
# SHA-256 of each file as copied from github:w3c/vc-di-eddsa@abb673e TestVectors/ (see its README.md).
PINNED = {
    "keyPair.json": "978631fc2aba6e8cd8be0bd5a7bf216e2ac54201594937602a9acd6e9763d08f",
    "unsigned.json": "060626e6046fc6f39a4aecc55a60b61071ab9aa3f8fd05b8626f8787ec0ff912",
    "proofConfigDataInt.json": "db7059b59c666f23f8f2b56cb82b438462f880557f9d2e227b6842ddae1563e2",
    "signedDataInt.json": "0867c0b2e086a29901c6d53851dd87590c152b6e4959bb835e5edf7294bfb895",
    "canonDocDataInt.txt": "517744132ae165a5349155bef0bb0cf2258fff99dfe1dbd914b938d775a36017",
    "proofCanonDataInt.txt": "bea7b7acfbad0126b135104024a5f1733e705108f42d59668b05c0c50004c6b0",
    "docHashDataInt.txt": "edc4dd4272a9054dee8c863b189e819ae98a3e0c6b1672f55ebf0e7c19a66cb2",
    "proofHashDataInt.txt": "be981a6c42ab16f253dda654b7e17cc07dc2ca2b5a77ef396d5353f58d7b5883",
    "combinedHashDataInt.txt": "c3a98e635e0324a501828beebe1d9efaac58cc5972aa7ef4477112e925e259d8",
    "sigHexDataInt.txt": "0d3b4af927e4e9cbcf9c8873bb80d9fca2752eec65265bc2e3e51699bf266f6e",
    "sigBTC58DataInt.txt": "9068f651eaeeeaca81c99779204275064104235ae5e462cebd5f4445639905d3",
    "credentials-examples-v2.jsonld": "57393fbc69d6efb9b9b5dc9cb6b9880b0944360abfe2eaf459c9e58cf2279d7c",
}
ISSUER = vectors.ISSUER
METHOD = f"{ISSUER}#{vectors.ED25519_KID}"
CREATED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def text(name: str) -> str:
    return (VECTORS / name).read_text()


def load(name: str) -> Any:
    return json.loads(text(name))


EXTRA = {EXAMPLES_CONTEXT: load("credentials-examples-v2.jsonld")}


def vector_keys() -> tuple[ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey]:
    pair = load("keyPair.json")
    private_key = di.private_key_from_multikey(pair["privateKeyMultibase"])
    return private_key, private_key.public_key()


def test_the_bundled_vectors_are_the_w3c_files() -> None:
    assert {path.name for path in VECTORS.iterdir()} == {*PINNED, "README.md"}
    for name, digest in PINNED.items():
        assert hashlib.sha256((VECTORS / name).read_bytes()).hexdigest() == digest, name


def test_w3c_eddsa_rdfc_2022_vectors_reproduce_step_by_step() -> None:
    private_key, public_key = vector_keys()
    assert jose.public_key_multibase(private_key.public_key()) == load("keyPair.json")["publicKeyMultibase"]
    unsigned, config = load("unsigned.json"), load("proofConfigDataInt.json")

    canonical_document = jsonld.canonize(unsigned, EXTRA)
    canonical_config = jsonld.canonize(config, EXTRA)
    assert canonical_document == text("canonDocDataInt.txt")
    assert canonical_config == text("proofCanonDataInt.txt")
    assert hashlib.sha256(canonical_document.encode()).hexdigest() == text("docHashDataInt.txt")
    assert hashlib.sha256(canonical_config.encode()).hexdigest() == text("proofHashDataInt.txt")
    assert di.hash_data(unsigned, config, EXTRA).hex() == text("combinedHashDataInt.txt")

    created = datetime.fromisoformat(config["created"])
    secured = di.add_proof(unsigned, private_key, config["verificationMethod"], created, extra_contexts=EXTRA)
    assert secured["proof"]["proofValue"] == text("sigBTC58DataInt.txt")
    assert secured == load("signedDataInt.json")
    assert bytes.fromhex(text("sigHexDataInt.txt")) == private_key.sign(di.hash_data(unsigned, config, EXTRA))

    result = di.verify_proof(load("signedDataInt.json"), lambda method: public_key, extra_contexts=EXTRA)
    assert result.verification_method == config["verificationMethod"]
    assert result.document == unsigned


def our_credential() -> dict[str, Any]:
    return safe_credential()


def resolver(*keys: tuple[str, object]) -> Any:
    known = dict(keys) or {METHOD: vectors.ed25519_key().public_key()}

    def resolve(method: str) -> object:
        if method not in known:
            raise LookupError(method)
        return known[method]

    return resolve


def secured() -> dict[str, Any]:
    return di.add_proof(our_credential(), vectors.ed25519_key(), METHOD, CREATED)


def test_our_credential_signs_and_verifies() -> None:
    vc = secured()
    assert vc["proof"] == {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2026-12-01T09:30:00Z",
        "verificationMethod": METHOD,
        "proofPurpose": "assertionMethod",
        "proofValue": vc["proof"]["proofValue"],
    }
    assert vc["proof"]["proofValue"].startswith("z")
    assert secured() == vc  # Ed25519 and RDFC-1.0 are deterministic
    result = di.verify_proof(vc, resolver())
    assert result.document == our_credential()
    # Key order and JSON formatting are not signed: only the RDF graph is.
    reordered = json.loads(json.dumps(vc, sort_keys=True, indent=1))
    di.verify_proof(reordered, resolver())


def _changed_field(vc: dict[str, Any]) -> None:
    vc["credentialSubject"]["achievement"]["name"] = "Python (expert)"


def _changed_proof(vc: dict[str, Any]) -> None:
    vc["proof"]["created"] = "2026-12-02T09:30:00Z"


def _changed_signature(vc: dict[str, Any]) -> None:
    sig = vc["proof"]["proofValue"]
    vc["proof"]["proofValue"] = sig[:-2] + ("1" if sig[-2] != "1" else "2") + sig[-1]


def _wrong_cryptosuite(vc: dict[str, Any]) -> None:
    vc["proof"]["cryptosuite"] = "eddsa-jcs-2022"


def _wrong_type(vc: dict[str, Any]) -> None:
    vc["proof"]["type"] = "Ed25519Signature2020"


def _undefined_term(vc: dict[str, Any]) -> None:
    vc["credentialSubject"]["score"] = 99


def _added_context(vc: dict[str, Any]) -> None:
    vc["@context"] = [*vc["@context"], "https://example.com/ctx"]


def _two_proofs(vc: dict[str, Any]) -> None:
    vc["proof"] = [vc["proof"], vc["proof"]]


def _other_purpose(vc: dict[str, Any]) -> None:
    vc["proof"]["proofPurpose"] = "authentication"


def _proof_context_not_a_prefix(vc: dict[str, Any]) -> None:
    vc["proof"]["@context"] = ["https://w3id.org/security/data-integrity/v2"]


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (_changed_field, di.InvalidProofSignature),
        (_changed_proof, di.InvalidProofSignature),
        (_changed_signature, di.InvalidProofSignature),
        (_wrong_cryptosuite, di.UnsupportedCryptosuite),
        (_wrong_type, di.UnsupportedCryptosuite),
        (_undefined_term, di.InvalidDocument),
        (_added_context, di.InvalidDocument),
        (_two_proofs, di.MalformedProof),
        (_other_purpose, di.MalformedProof),
        (_proof_context_not_a_prefix, di.MalformedProof),
    ],
)
def test_tampering_is_refused_with_its_code(tamper: Any, error: type[di.DataIntegrityError]) -> None:
    vc = copy.deepcopy(secured())
    tamper(vc)
    with pytest.raises(error) as caught:
        di.verify_proof(vc, resolver())
    assert caught.value.code == {
        di.InvalidProofSignature: "invalid_signature",
        di.UnsupportedCryptosuite: "unsupported_algorithm",
        di.InvalidDocument: "invalid_credential",
        di.MalformedProof: "malformed",
    }[error]


def test_another_key_or_a_key_of_another_kind_is_refused() -> None:
    vc = secured()
    with pytest.raises(di.InvalidProofSignature):
        di.verify_proof(vc, resolver((METHOD, vectors.ed25519_second_key().public_key())))
    with pytest.raises(di.UnsupportedCryptosuite):
        di.verify_proof(vc, resolver((METHOD, ec.generate_private_key(ec.SECP256R1()).public_key())))
    with pytest.raises(LookupError):  # the resolver's own error passes through (unknown key, untrusted issuer)
        di.verify_proof(vc, resolver(("did:web:other.example#k", vectors.ed25519_key().public_key())))


def test_signing_refuses_undefined_terms_and_a_second_proof() -> None:
    vc = our_credential()
    vc["credentialSubject"]["contentHash"] = "sha256:ab"
    with pytest.raises(di.InvalidDocument, match="contentHash"):
        di.add_proof(vc, vectors.ed25519_key(), METHOD, CREATED)
    with pytest.raises(di.MalformedProof):
        di.add_proof(secured(), vectors.ed25519_key(), METHOD, CREATED)


def test_multikey_round_trip_and_refusals() -> None:
    public = vectors.ed25519_key().public_key()
    multikey = jose.public_key_multibase(public)
    assert multikey.startswith("z6Mk")
    key = jose.public_key_from_multibase(multikey)
    assert isinstance(key, Ed25519PublicKey) and key.public_bytes_raw() == public.public_bytes_raw()
    for bad in ["", "u" + multikey[1:], "z0OIl", multikey[:-3]]:
        with pytest.raises(jose.JoseError):
            jose.public_key_from_multibase(bad)


# -- over HTTP: issuance, the verify endpoint, the status list as JSON -------------------------------------------


def did_document_resolver(client: TestClient) -> Any:
    """Keys exactly as a stranger finds them: the Multikey methods of the served DID document."""
    document = client.get("/.well-known/did.json").json()
    keys = {
        method["id"]: jose.public_key_from_multibase(method["publicKeyMultibase"])
        for method in document["verificationMethod"]
        if method["type"] == "Multikey" and method["id"] in document["assertionMethod"]
    }

    def resolve(method: str) -> object:
        return keys[method]

    return resolve


def earned_ldp(client: TestClient) -> dict[str, Any]:
    earned = earn_credential(client, item_count=3)
    if earned["credential"]["ldp"] is None:
        pytest.skip("the issued credential still has terms no context defines (i7-doc defines them); no ldp")
    return earned


def test_an_issued_credential_carries_its_ldp_form(client: TestClient, settings: Any) -> None:
    earned = earned_ldp(client)
    view = earned["credential"]
    ldp = view["ldp"]
    [proof] = ldp["proof"]  # a list of one, as OB 3.0's schema wants
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["verificationMethod"].startswith(settings.issuer_did + "#")
    # The same credential as the JWT payload, without the JWT-only claims.
    jwt_only = {"iss", "jti", "sub", "nbf", "exp"}
    assert {k: v for k, v in ldp.items() if k != "proof"} == {
        k: v for k, v in view["credential"].items() if k not in jwt_only
    }
    verified = di.verify_proof(ldp, did_document_resolver(client))
    assert verified.document["id"] == view["credential"]["id"]
    listed = client.get("/v1/learners/me/credentials", headers=earned["learner"]["headers"]).json()
    assert [c["ldp"] for c in listed] == [ldp]


def test_the_verify_endpoint_accepts_the_ldp_form_and_refuses_its_tamperings(client: TestClient) -> None:
    ldp = earned_ldp(client)["credential"]["ldp"]
    response = client.post("/v1/credentials/verify", json={"verifiableCredential": ldp}).json()
    assert response["verified"] is True, response
    assert response["checks"][:5] == ["parse", "algorithm", "issuer", "key", "signature"]
    assert "proof" not in response["credential"]
    cases = {
        "invalid_signature": lambda vc: vc["credentialSubject"].update(id="urn:uuid:00000000-0000-0000-0000-0"),
        "unsupported_algorithm": lambda vc: vc["proof"][0].update(cryptosuite="ecdsa-rdfc-2019"),
        "invalid_credential": lambda vc: vc["credentialSubject"].update(score=100),
        "malformed": lambda vc: vc.update(proof=[vc["proof"][0], vc["proof"][0]]),
        "unknown_key": lambda vc: vc["proof"][0].update(verificationMethod=vc["issuer"]["id"] + "#not-a-key"),
        "untrusted_issuer": lambda vc: vc["issuer"].update(id="did:web:elsewhere.example"),
    }
    for code, tamper in cases.items():
        vc = copy.deepcopy(ldp)
        tamper(vc)
        assert verify_codes(client, vc) == [code], code
    signed_by_another = di.add_proof(
        {k: v for k, v in ldp.items() if k != "proof"}, vectors.ed25519_second_key(),
        ldp["proof"][0]["verificationMethod"], CREATED,
    )
    assert verify_codes(client, signed_by_another) == ["invalid_signature"]


def test_a_revoked_ldp_credential_fails_its_status_check(client: TestClient, admin: TestClient) -> None:
    earned = earned_ldp(client)
    ldp = earned["credential"]["ldp"]
    assert admin.post(f"/v1/credentials/{earned['credential']['id']}/revoke", json={}).status_code == 200
    assert "revoked" in verify_codes(client, ldp)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/vc+jwt"),
        ("application/vc+jwt", "application/vc+jwt"),
        ("application/vc", "application/vc"),
        ("application/ld+json", "application/ld+json"),
        ("application/ld+json;q=0.9, application/vc+jwt;q=0.5", "application/ld+json"),
        ("application/vc+jwt, application/vc", "application/vc+jwt"),
        ("text/html", "application/vc+jwt"),
        ("*/*", "application/vc+jwt"),
        ("application/vc;q=0", "application/vc+jwt"),
        ("application/vc;q=nonsense", "application/vc+jwt"),
    ],
)
def test_the_status_list_by_content_negotiation(
    client: TestClient, accept: str | None, media_type: str
) -> None:
    list_url = earn_credential(client, item_count=3)["credential"]["credential"]["credentialStatus"]
    url = (list_url[0] if isinstance(list_url, list) else list_url)["statusListCredential"]
    path = url[url.index("/v1/status-lists/"):]
    response = client.get(path, headers={"Accept": accept} if accept else {})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["vary"] == "Accept"
    if media_type == "application/vc+jwt":
        assert response.text.count(".") == 2
        return
    secured = response.json()
    assert secured["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert secured["id"] == url
    verified = di.verify_proof(secured, did_document_resolver(client))
    assert verified.document["credentialSubject"]["encodedList"] == secured["credentialSubject"]["encodedList"]
