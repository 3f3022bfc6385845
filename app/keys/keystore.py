"""Signing keys kept as PEM files in the keys directory; the file provider of the key interface.

Layout: `<kid>.pem` (PKCS#8, mode 0600) per key and `active`, the kid that signs new credentials.
Retired keys stay in the directory and in the JWKS, so every credential ever issued still verifies.
"""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from app.credentials import jose

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


class KeyStoreError(Exception):
    """The keys directory is unusable (unsafe permissions, unreadable key, unknown algorithm)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey
    # One object per loaded key: the verifier's cache of verified tokens recognises a key by identity.
    public_key: PublicKey = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_key", self.private_key.public_key())


def _alg_of(key: PrivateKey) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise KeyStoreError(f"unsupported key type {type(key).__name__}")


def _new_private_key(alg: str) -> PrivateKey:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise KeyStoreError(f"unsupported signing algorithm {alg!r}; use EdDSA or ES256")


def kid_of(public_key: PublicKey) -> str:
    """The RFC 7638 thumbprint of the public JWK."""
    return jose.jwk_thumbprint(jose.public_jwk(public_key))


class FileKeyStore:
    """Keys on disk; cached in memory and re-read when the directory changes (e.g. another replica rotated)."""

    RECHECK_SECONDS = 1.0

    def __init__(self, directory: Path, default_alg: str = "EdDSA"):
        self.directory = Path(directory)
        self.default_alg = default_alg
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._active_kid: str | None = None
        self._fingerprint: tuple[float, ...] | None = None
        self._checked_at = 0.0

    # -- setup -------------------------------------------------------------------------------------

    def ensure(self) -> SigningKey:
        """Create the directory and a first key if there is none; check permissions; load."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._exclusive():
            if not self._read_active_kid():
                self._write_new_key(self.default_alg)
        self._load()
        return self.active()

    def rotate(self, alg: str | None = None) -> SigningKey:
        """Make a new key the signing key; older keys stay published."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._exclusive():
            self._write_new_key(alg or self.default_alg)
        self._load()
        return self.active()

    def withdraw(self, kid: str) -> None:
        """Stop publishing a key (e.g. compromised): its credentials stop verifying (unknown_key).

        The file moves to keys/withdrawn/ for the record and is never loaded again. The active key cannot be
        withdrawn; rotate first.
        """
        with self._exclusive():
            self._load()
            if kid not in self._keys:
                raise KeyStoreError(f"no published key has kid {kid!r}")
            if kid == self._active_kid:
                raise KeyStoreError("the active signing key cannot be withdrawn; run `skillproof keys rotate` first")
            withdrawn = self.directory / "withdrawn"
            withdrawn.mkdir(mode=0o700, exist_ok=True)
            os.replace(self.directory / f"{kid}.pem", withdrawn / f"{kid}.pem")
        self._load()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        # Replicas sharing one keys volume must not both create "the first" key.
        lock_path = self.directory / ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write_new_key(self, alg: str) -> str:
        key = _new_private_key(alg)
        kid = kid_of(key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path = self.directory / f"{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        tmp = self.directory / ".active.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(kid + "\n")
        os.replace(tmp, self.directory / "active")
        return kid

    def _read_active_kid(self) -> str | None:
        try:
            return (self.directory / "active").read_text().strip() or None
        except FileNotFoundError:
            return None

    def _dir_fingerprint(self) -> tuple[float, ...]:
        active = self.directory / "active"
        return (
            self.directory.stat().st_mtime_ns,
            active.stat().st_mtime_ns if active.exists() else 0,
        )

    def _load(self) -> None:
        keys: dict[str, SigningKey] = {}
        for path in sorted(self.directory.glob("*.pem")):
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeyStoreError(
                    f"refusing to start: private key {path} is accessible by group or others "
                    f"(mode {stat.filemode(mode)}); run: chmod 600 {path}"
                )
            try:
                private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (ValueError, TypeError) as exc:
                raise KeyStoreError(f"cannot read private key {path}: {exc}") from None
            if not isinstance(private_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
                raise KeyStoreError(f"{path}: only Ed25519 and P-256 keys are supported")
            kid = kid_of(private_key.public_key())
            keys[kid] = SigningKey(kid=kid, alg=_alg_of(private_key), private_key=private_key)
        active = self._read_active_kid()
        if active is None or active not in keys:
            raise KeyStoreError(f"the active key {active!r} named in {self.directory / 'active'} is missing")
        with self._lock:
            self._keys = keys
            self._active_kid = active
            self._fingerprint = self._dir_fingerprint()
            self._checked_at = time.monotonic()

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.RECHECK_SECONDS:
            return
        self._checked_at = now
        if self._dir_fingerprint() != self._fingerprint:
            self._load()

    # -- use ---------------------------------------------------------------------------------------

    def active(self) -> SigningKey:
        """The key that signs new credentials."""
        self._refresh()
        if self._active_kid is None:
            raise KeyStoreError("no signing key loaded")
        return self._keys[self._active_kid]

    def all_keys(self) -> list[SigningKey]:
        """Every key, active first."""
        self._refresh()
        active = self._active_kid
        return sorted(self._keys.values(), key=lambda key: (key.kid != active, key.kid))

    def public_key(self, kid: str) -> PublicKey | None:
        """The public key with that kid, or None."""
        self._refresh()
        key = self._keys.get(kid)
        return key.public_key if key else None

    def sign(self, payload: dict[str, Any]) -> tuple[str, str]:
        """Sign a credential payload as vc+jwt with the active key; returns (jws, kid)."""
        key = self.active()
        return jose.sign_compact(payload, key.private_key, kid=key.kid, alg=key.alg), key.kid
