"""The keystore: creation, permissions, kid as thumbprint, rotation, and the public documents."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from app.config import Settings
from app.credentials import jose
from app.keys.keystore import FileKeyStore, KeyStoreError
from tests.conftest import ADMIN_KEY, PUBLIC_URL
from tests.factories import earn_credential


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
    # Issue 7: the Data Integrity key is one Multikey beside the JsonWebKey methods of the vc+jwt keys.
    jwk_methods = [m for m in did["verificationMethod"] if m["type"] == "JsonWebKey"]
    multikeys = [m for m in did["verificationMethod"] if m["type"] == "Multikey"]
    assert len(multikeys) == 1 and multikeys[0]["publicKeyMultibase"].startswith("z6Mk")
    assert len(jwk_methods) + len(multikeys) == len(did["verificationMethod"])
    for method in did["verificationMethod"]:
        assert method["controller"] == did["id"]
    for method in jwk_methods:
        assert method["id"] == f"{did['id']}#{method['publicKeyJwk']['kid']}"
    assert {m["publicKeyJwk"]["kid"] for m in jwk_methods} == {k["kid"] for k in jwks["keys"]}


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


# -- key files are read at start and on an explicit reload; a bad file never breaks serving ---------



def _pem(key: object, *, encrypted: bool = False) -> bytes:
    encryption = (serialization.BestAvailableEncryption(b"pw") if encrypted else serialization.NoEncryption())
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _stray_files(directory: Path, signing: FileKeyStore) -> dict[str, str]:
    """Every kind of bad file an operator can leave in keys/; name -> the reason the log must give."""
    from tests import vectors

    p256_public = vectors.p256_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    p384 = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = {
        "public.pem": p256_public,
        "notes.pem": b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
        "empty.pem": b"",
        "rsa.pem": _pem(rsa_key),
        "p384.pem": _pem(p384),
        "encrypted.pem": _pem(vectors.ed25519_second_key(), encrypted=True),
        "backup-of-test-key.pem": _pem(vectors.ed25519_key()),
    }
    reasons = {
        "public.pem": "not an unencrypted PEM private key",
        "notes.pem": "not an unencrypted PEM private key",
        "empty.pem": "not an unencrypted PEM private key",
        "rsa.pem": "other than Ed25519 or P-256",
        "p384.pem": "other than Ed25519 or P-256",
        "encrypted.pem": "not an unencrypted PEM private key",
        "backup-of-test-key.pem": "not named after its key",
        "world-readable.pem": "accessible by group or others",
        "a-directory.pem": "not a regular file",
        "dangling.pem": "cannot be read",
    }
    for name, data in files.items():
        path = directory / name
        path.write_bytes(data)
        os.chmod(path, 0o600)
    copy = directory / "world-readable.pem"
    copy.write_bytes((directory / f"{signing.active().kid}.pem").read_bytes())
    os.chmod(copy, 0o644)  # `cp` without -p under a 022 umask
    (directory / "a-directory.pem").mkdir()
    (directory / "dangling.pem").symlink_to(directory / "missing-target")
    return reasons


@pytest.fixture
def own_keys_client(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """The real app with a keys directory of its own (so its files can be damaged)."""
    from app.main import create_app

    own = settings.model_copy(update={"keys_dir": tmp_path / "keys"})
    with TestClient(create_app(own), base_url=PUBLIC_URL) as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        client.app.state.keystore.RECHECK_SECONDS = 0  # type: ignore[attr-defined]
        yield client


def _verified(client: TestClient, token: str) -> bool:
    response = client.post("/v1/credentials/verify", json={"verifiableCredential": token})
    assert response.status_code == 200, response.text
    return bool(response.json()["verified"])


def test_stray_key_files_never_break_serving(
    own_keys_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 6: a readable stray .pem copied into keys/ made every verify return 500 until restart."""
    client = own_keys_client
    keystore = client.app.state.keystore  # type: ignore[attr-defined]
    token = earn_credential(client, item_count=2)["credential"]["jwt"]
    jwks_before = client.get("/.well-known/jwks.json").json()
    reasons = _stray_files(keystore.directory, keystore)
    # A copy alone is not a reload: everything keeps answering exactly as before.
    assert _verified(client, token)
    assert client.get("/.well-known/jwks.json").json() == jwks_before
    # The explicit reload reads them, logs one line per bad file, skips them, and keeps serving.
    caplog.clear()
    response = client.post("/v1/admin/keys/reload")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["active"] == keystore.active().kid and report["kids"] == [keystore.active().kid]
    assert {item["file"]: item["reason"] for item in report["skipped"]}.keys() == reasons.keys()
    for item in report["skipped"]:
        assert reasons[item["file"]] in item["reason"], item
    skipped_lines = [record.getMessage() for record in caplog.records if "skipped" in record.getMessage()]
    assert len(skipped_lines) == len(reasons)
    for line in skipped_lines:
        assert "\n" not in line and "BEGIN" not in line and "PRIVATE" not in line
    assert _verified(client, token)
    assert client.get("/.well-known/jwks.json").json() == jwks_before
    assert earn_credential(client, item_count=2)["credential"]["jwt"]
    # A rotation by `skillproof keys rotate` (another process) is still picked up, strays and all.
    new = FileKeyStore(keystore.directory).rotate()
    assert client.get("/.well-known/jwks.json").json()["keys"][0]["kid"] == new.kid
    assert _verified(client, token)
    fresh = earn_credential(client, item_count=2)["credential"]["jwt"]
    assert fresh.split(".")[0] and _verified(client, fresh)
    assert keystore.active().kid == new.kid


def test_a_key_file_that_goes_bad_keeps_the_key_loaded_before(own_keys_client: TestClient) -> None:
    client = own_keys_client
    keystore = client.app.state.keystore  # type: ignore[attr-defined]
    token = earn_credential(client, item_count=2)["credential"]["jwt"]
    kid = keystore.active().kid
    path = keystore.directory / f"{kid}.pem"
    os.chmod(path, 0o644)
    report = client.post("/v1/admin/keys/reload").json()
    assert report["active"] == kid and report["kids"] == [kid]
    assert [item["file"] for item in report["skipped"]] == [path.name]
    assert _verified(client, token)
    events = client.get("/v1/audit-events", params={"action": "keys.reload"}).json()["events"]
    assert events and events[-1]["target_id"] == kid and events[-1]["details"] == {"skipped": 1}
    path.write_bytes(b"truncated")
    os.chmod(path, 0o600)
    FileKeyStore(keystore.directory).signal_reload()  # what `skillproof keys reload` does
    assert _verified(client, token) and keystore.active().kid == kid
    # A broken `active` keeps the current signing key too.
    (keystore.directory / "active").write_text("no-such-kid\n")
    os.utime(keystore.directory / "active", ns=(1, 1))
    assert client.post("/v1/admin/keys/reload").status_code == 200
    assert keystore.active().kid == kid and _verified(client, token)


def test_reload_needs_an_admin_key(own_keys_client: TestClient) -> None:
    client = own_keys_client
    assert client.post("/v1/admin/keys/reload", headers={"Authorization": ""}).status_code == 401
    learner = client.post("/v1/learners", json={"name": "L"}).json()
    response = client.post("/v1/admin/keys/reload", headers={"Authorization": f"Bearer {learner['api_key']}"})
    assert response.status_code == 403 and set(response.json()) == {"error", "detail"}


def test_start_skips_stray_files_but_refuses_an_exposed_key_of_ours(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    key = store.ensure()
    reasons = _stray_files(tmp_path, store)
    restarted = FileKeyStore(tmp_path)
    assert restarted.ensure().kid == key.kid  # a restart with stray files (even exposed ones) serves
    report = restarted.reload()
    assert {name for name, _ in report.skipped} == reasons.keys()
    os.chmod(tmp_path / f"{key.kid}.pem", 0o640)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        FileKeyStore(tmp_path).ensure()


def test_keys_reload_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from app import cli

    serving = FileKeyStore(tmp_path)
    serving.ensure()
    serving.RECHECK_SECONDS = 0
    (tmp_path / "stray.pem").write_bytes(b"x")
    monkeypatch.setenv("SKILLPROOF_KEYS_DIR", str(tmp_path))
    fingerprint = serving._active_fingerprint()
    assert cli.main(["keys", "reload"]) == 0
    assert "re-read their key files" in capsys.readouterr().out
    assert serving._active_fingerprint() != fingerprint
    serving.active()  # the next use reloads, and the stray file is skipped, not fatal
    assert serving._fingerprint == serving._active_fingerprint()
