"""A real server keeps its issuer identity across ports, and its key files never break it (issue 6)."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from app.config import PROJECT_ROOT
from tests.e2e.test_server_flow import SKILLPROOF, earn_credential_over_http, running_server


def _earn_credential(server: str) -> str:
    token: str = earn_credential_over_http(server, level="intermediate")["credential"]["jwt"]
    return token


def test_a_restart_on_another_port_keeps_the_did_and_earlier_credentials_verify(tmp_path: Path) -> None:
    with running_server(tmp_path) as first:
        token = _earn_credential(first)
        did = httpx.get(f"{first}/.well-known/did.json").json()["id"]
        assert did == "did:web:localhost%3A" + first.rsplit(":", 1)[1]
    with running_server(tmp_path) as second:
        assert second.rsplit(":", 1)[1] != first.rsplit(":", 1)[1]
        assert httpx.get(f"{second}/.well-known/did.json").json()["id"] == did
        verdict = httpx.post(f"{second}/v1/credentials/verify", json={"verifiableCredential": token}).json()
        assert verdict["verified"] is True, verdict["errors"]


def _server_pid(base_url: str) -> int:
    port = base_url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" in cmdline and port in cmdline:
            return int(process.info["pid"])
    raise AssertionError(f"no server process on port {port}")


def _verified(server: str, token: str) -> bool:
    response = httpx.post(f"{server}/v1/credentials/verify", json={"verifiableCredential": token})
    assert response.status_code == 200, response.text
    return bool(response.json()["verified"])


def _wait_for(condition, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def test_stray_key_files_sighup_and_keys_rotate_on_a_running_server(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    with running_server(tmp_path) as server:
        token = _earn_credential(server)
        # The first JWKS entry is the active key under its DID URL kid; the file is named after the thumbprint.
        kid = httpx.get(f"{server}/.well-known/jwks.json").json()["keys"][0]["kid"].rpartition("#")[2]
        # An operator copies files into keys/: a readable copy of the key under another name, a public key.
        shutil.copy(keys / f"{kid}.pem", keys / "backup.pem")  # mode 0644 under the default umask
        os.chmod(keys / "backup.pem", 0o644)
        (keys / "cert.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        time.sleep(1.2)  # past the keystore's recheck interval
        assert _verified(server, token)
        os.kill(_server_pid(server), signal.SIGHUP)
        log = tmp_path / "server.log"
        assert _wait_for(lambda: log.read_text().count("keys: skipped") >= 2), log.read_text()[-2000:]
        skipped = [line for line in log.read_text().splitlines() if "keys: skipped" in line]
        assert any("backup.pem" in line and "group or others" in line for line in skipped)
        assert not any("BEGIN" in line for line in log.read_text().splitlines())
        assert httpx.get(f"{server}/health").status_code == 200 and _verified(server, token)
        # `skillproof keys rotate` on the running server, as the README says: picked up within a second or two.
        env = {**os.environ, "SKILLPROOF_KEYS_DIR": str(keys)}
        rotated = subprocess.run([SKILLPROOF, "keys", "rotate"], env=env, cwd=PROJECT_ROOT, capture_output=True,
                                 text=True, timeout=60)
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.split()[3]
        did = httpx.get(f"{server}/.well-known/did.json").json()["id"]
        assert _wait_for(
            lambda: httpx.get(f"{server}/.well-known/jwks.json").json()["keys"][0]["kid"] == f"{did}#{new_kid}"
        )
        fresh = _earn_credential(server)
        assert f'"kid":"{did}#{new_kid}"'.encode() in base64.urlsafe_b64decode(fresh.split(".")[0] + "==")
        assert _verified(server, fresh) and _verified(server, token)
