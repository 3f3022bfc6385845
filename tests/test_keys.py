"""The keystore: creation, permissions, kid as thumbprint, rotation, and the public documents."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.credentials import jose
from app.keys.keystore import FileKeyStore, KeyStoreError


def test_first_start_creates_an_ed25519_key_with_mode_0600(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    key = store.ensure()
    assert key.alg == "EdDSA"
    files = list((tmp_path / "keys").glob("*.pem"))
    assert [f.name for f in files] == [f"{key.kid}.pem"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert key.kid == jose.jwk_thumbprint(jose.public_jwk(key.public_key))
    assert FileKeyStore(tmp_path / "keys").ensure().kid == key.kid  # a restart keeps the key


def test_es256_setting_makes_p256_keys(tmp_path: Path) -> None:
    key = FileKeyStore(tmp_path, default_alg="ES256").ensure()
    assert key.alg == "ES256"
    assert jose.public_jwk(key.public_key)["crv"] == "P-256"


def test_refuses_a_key_readable_by_others(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    key = store.ensure()
    os.chmod(tmp_path / f"{key.kid}.pem", 0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        FileKeyStore(tmp_path).ensure()


def test_serve_refuses_to_start_with_unsafe_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from app import cli

    key = FileKeyStore(tmp_path).ensure()
    os.chmod(tmp_path / f"{key.kid}.pem", 0o640)
    monkeypatch.setenv("SKILLPROOF_KEYS_DIR", str(tmp_path))
    assert cli.main(["serve", "--port", "65530"]) == 2
    assert "accessible by group or others" in capsys.readouterr().err


def test_rotation_by_another_process_is_picked_up(tmp_path: Path) -> None:
    serving = FileKeyStore(tmp_path)
    first = serving.ensure()
    serving.RECHECK_SECONDS = 0
    second = FileKeyStore(tmp_path).rotate()
    assert serving.active().kid == second.kid
    assert {k.kid for k in serving.all_keys()} == {first.kid, second.kid}


def test_jwks_and_did_document(client: TestClient, settings: Settings) -> None:
    jwks = client.get("/.well-known/jwks.json").json()
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert key["use"] == "sig" and key["alg"] in ("EdDSA", "ES256") and "d" not in key
        assert key["kid"] == jose.jwk_thumbprint({k: v for k, v in key.items() if k in ("kty", "crv", "x", "y")})
    did = client.get("/.well-known/did.json").json()
    assert did["id"] == settings.issuer_did == "did:web:skillproof.test"
    assert did["assertionMethod"] == [method["id"] for method in did["verificationMethod"]]
    for method in did["verificationMethod"]:
        assert method["type"] == "JsonWebKey" and method["controller"] == did["id"]
        assert method["id"] == f"{did['id']}#{method['publicKeyJwk']['kid']}"
    assert {m["publicKeyJwk"]["kid"] for m in did["verificationMethod"]} == {k["kid"] for k in jwks["keys"]}


def test_did_web_encodes_the_port_and_refuses_ip_addresses() -> None:
    assert Settings(public_url="http://localhost:8000").issuer_did == "did:web:localhost%3A8000"
    assert Settings(port=9000).issuer_did == "did:web:localhost%3A9000"
    assert Settings(public_url="https://skills.example.com").issuer_did == "did:web:skills.example.com"
    # Loopback is localhost; any other IP address cannot be a did:web.
    loopback = Settings(public_url="http://127.0.0.1:8000")
    assert loopback.issuer_did == "did:web:localhost%3A8000" and loopback.base_url == "http://127.0.0.1:8000"
    with pytest.raises(ValueError, match="not an IP address"):
        Settings(public_url="http://10.1.2.3:8000")


def test_a_withdrawn_key_is_no_longer_published_and_its_credentials_fail(client: TestClient) -> None:
    from tests.factories import earn_credential

    keystore = client.app.state.keystore  # type: ignore[attr-defined]
    token = earn_credential(client, item_count=2)["credential"]["jwt"]
    old_kid = keystore.active().kid
    with pytest.raises(KeyStoreError, match="active signing key"):
        keystore.withdraw(old_kid)
    keystore.rotate()
    keystore.withdraw(old_kid)
    assert old_kid not in {key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]}
    assert old_kid not in client.get("/.well-known/did.json").text
    verdict = client.post("/v1/credentials/verify", json={"verifiableCredential": token}).json()
    assert [error["code"] for error in verdict["errors"]] == ["unknown_key"]
    assert (keystore.directory / "withdrawn" / f"{old_kid}.pem").exists()


def test_did_web_with_a_path() -> None:
    settings = Settings(public_url="https://example.com/skills/issuer")
    assert settings.issuer_did == "did:web:example.com:skills:issuer"
