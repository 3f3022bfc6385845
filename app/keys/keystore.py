"""Signing keys kept as PEM files in the keys directory; the file provider of the key interface.

Layout: `<kid>.pem` (PKCS#8, mode 0600) per key and `active`, the kid that signs new credentials.
Retired keys stay in the directory and in the JWKS, so every credential ever issued still verifies.

The files are read at start and on an explicit reload only: SIGHUP, POST /v1/admin/keys/reload, or a
rewrite of `active` (what `skillproof keys rotate|withdraw|reload` do, so every process sharing the directory
follows within a second). A file that cannot be used (not a key, unreadable, another algorithm, readable by
others, named after another kid) is logged in one line and skipped; once serving, no file breaks it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from app.credentials import jose

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
logger = logging.getLogger("skillproof.keys")
MAX_KEY_FILE_BYTES = 64 * 1024


class KeyStoreError(Exception):
    """The keys directory is unusable (unsafe permissions, unreadable key, unknown algorithm)."""


class SkippedKeyFile(Exception):
    """A file in the keys directory that is not a usable key; the message says why (never key bytes)."""


@dataclass(frozen=True)
class ReloadReport:
    """What a (re)load found: the signing kid, every published kid, and the files skipped with the reason."""

    active: str
    kids: list[str]
    skipped: list[tuple[str, str]]


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
    """Keys on disk; held in memory, re-read on reload() or when `active` is rewritten (another process rotated)."""

    RECHECK_SECONDS = 1.0

    def __init__(self, directory: Path, default_alg: str = "EdDSA"):
        self.directory = Path(directory)
        self.default_alg = default_alg
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._active_kid: str | None = None
        self._fingerprint: tuple[int, ...] | None = None
        self._checked_at = 0.0

    # -- setup -------------------------------------------------------------------------------------

    def ensure(self, *, strict: bool = True) -> SigningKey:
        """Create the directory and a first key if there is none; load. strict (serving): a key file readable by
        others refuses; otherwise (the `keys` commands) it is skipped like any other bad file."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._exclusive():
            if not self._read_active_kid():
                self._write_new_key(self.default_alg)
        self._load(strict=strict)
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
            kid_active = self.active().kid
            if kid == kid_active:
                raise KeyStoreError("the active signing key cannot be withdrawn; run `skillproof keys rotate` first")
            withdrawn = self.directory / "withdrawn"
            withdrawn.mkdir(mode=0o700, exist_ok=True)
            os.replace(self.directory / f"{kid}.pem", withdrawn / f"{kid}.pem")
            self._write_active(kid_active)  # the reload signal for every other process
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
        self._write_active(kid)
        return kid

    def _write_active(self, kid: str) -> None:
        # Atomic: a reader sees the old or the new file, and the new inode is the reload signal.
        tmp = self.directory / ".active.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(kid + "\n")
        os.replace(tmp, self.directory / "active")

    def _read_active_kid(self) -> str | None:
        try:
            return (self.directory / "active").read_text().strip() or None
        except FileNotFoundError:
            return None

    def _active_fingerprint(self) -> tuple[int, ...]:
        """Changes when `active` is rewritten (os.replace gives a new inode), and only then."""
        try:
            info = (self.directory / "active").stat()
        except OSError:
            return (0,)
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def _read_key_file(self, path: Path, *, strict: bool) -> SigningKey:
        """One key file, checked; SkippedKeyFile says why it cannot be used (never with key bytes).

        strict (starting to serve): one of our key files (a usable `<kid>.pem`) readable by group or others
        refuses with KeyStoreError, as it always did; any other bad file, exposed or not, is only skipped.
        """
        try:
            info = path.stat()
        except OSError as exc:
            raise SkippedKeyFile(f"cannot be read ({exc.strerror or 'stat failed'})") from None
        if not stat.S_ISREG(info.st_mode):
            raise SkippedKeyFile("is not a regular file")
        exposed = ""
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            exposed = (f"is accessible by group or others (mode {stat.filemode(info.st_mode)}); "
                       f"run: chmod 600 {path}")
        try:
            key = self._parse_key_file(path, info.st_size)
        except SkippedKeyFile as exc:
            raise SkippedKeyFile(f"{exc}; it also {exposed}" if exposed else str(exc)) from None
        if exposed and strict:
            raise KeyStoreError(f"refusing to start: private key {path} {exposed}")
        if exposed:
            raise SkippedKeyFile(exposed)
        return key

    @staticmethod
    def _parse_key_file(path: Path, size: int) -> SigningKey:
        if size > MAX_KEY_FILE_BYTES:
            raise SkippedKeyFile("is too large to be a key")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SkippedKeyFile(f"cannot be read ({exc.strerror or 'read failed'})") from None
        try:
            private_key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise SkippedKeyFile("is not an unencrypted PEM private key of a supported type") from None
        if not isinstance(private_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) or (
            isinstance(private_key, ec.EllipticCurvePrivateKey) and not isinstance(private_key.curve, ec.SECP256R1)
        ):
            raise SkippedKeyFile("holds a key type other than Ed25519 or P-256")
        kid = kid_of(private_key.public_key())
        if path.name != f"{kid}.pem":
            # A key published under a name of its own choosing could be a stray copy: only <kid>.pem is ours.
            raise SkippedKeyFile(f"is not named after its key (expected {kid}.pem)")
        return SigningKey(kid=kid, alg=_alg_of(private_key), private_key=private_key)

    def _load(self, *, strict: bool = False) -> ReloadReport:
        """Read every key file. strict (at start): an exposed key file of ours or a missing active key raise;
        otherwise bad files are logged and skipped, a key already loaded from a file that went bad is kept,
        and an unusable `active` keeps the current signing key."""
        fingerprint = self._active_fingerprint()
        keys: dict[str, SigningKey] = {}
        skipped: list[tuple[str, str]] = []
        with self._lock:
            previous = dict(self._keys)
            previous_active = self._active_kid
        for path in sorted(self.directory.glob("*.pem")):
            try:
                key = self._read_key_file(path, strict=strict)
            except SkippedKeyFile as exc:
                skipped.append((path.name, str(exc)))
                kept = previous.get(path.name.removesuffix(".pem"))
                suffix = "; the key loaded before is kept" if kept is not None else ""
                logger.warning("keys: skipped %s: it %s%s", path.name, exc, suffix)
                if kept is not None:
                    keys[kept.kid] = kept
                continue
            keys[key.kid] = previous.get(key.kid) or key  # the same object: cached verifications stay valid
        active = self._read_active_kid()
        if active is None or active not in keys:
            message = f"the active key {active!r} named in {self.directory / 'active'} is missing or unusable"
            if strict or previous_active is None or previous_active not in keys:
                raise KeyStoreError(message)
            logger.error("keys: %s; still signing with %s", message, previous_active)
            active = previous_active
        with self._lock:
            self._keys = keys
            self._active_kid = active
            self._fingerprint = fingerprint
            self._checked_at = time.monotonic()
        return ReloadReport(active=active, kids=sorted(keys), skipped=skipped)

    def reload(self) -> ReloadReport:
        """Re-read the key files now (SIGHUP, the admin endpoint); never raises for a bad file."""
        try:
            report = self._load()
        except (KeyStoreError, OSError) as exc:
            logger.error("keys: reload failed, keeping the keys loaded before: %s", exc)
            raise KeyStoreError(f"reload failed, the keys loaded before are kept: {exc}") from None
        logger.info("keys: reloaded %d key(s), active %s, %d file(s) skipped", len(report.kids), report.active,
                    len(report.skipped))
        return report

    def signal_reload(self) -> None:
        """Ask every process serving from this directory to reload: rewrite `active` (same content)."""
        with self._exclusive():
            active = self._read_active_kid()
            if active is None:
                raise KeyStoreError(f"no active key is named in {self.directory / 'active'}")
            self._write_active(active)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.RECHECK_SECONDS:
            return
        self._checked_at = now
        if self._active_fingerprint() != self._fingerprint:
            try:
                self.reload()
            except KeyStoreError:
                self._fingerprint = self._active_fingerprint()  # logged; not retried on every request

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
        if key is None and kid == self._di_kid():  # STAND-IN (i7-di) until i7-keys: the Data Integrity key
            key = self.data_integrity_key()
        return key.public_key if key else None

    # -- STAND-IN (i7-di) for i7-keys's data_integrity_key(): lead, replace with i7-keys's version -------------

    def _di_kid(self) -> str | None:
        path = self.directory / "data-integrity" / "active"
        return path.read_text().strip() if path.exists() else None

    def data_integrity_key(self) -> SigningKey:
        """The Ed25519 key that signs Data Integrity proofs (keys/data-integrity/<kid>.pem), created when missing."""
        cached: SigningKey | None = getattr(self, "_di_key", None)
        if cached is not None:
            return cached
        directory = self.directory / "data-integrity"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._exclusive():
            kid = self._di_kid()
            if kid is None:
                key = ed25519.Ed25519PrivateKey.generate()
                kid = kid_of(key.public_key())
                pem = key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                fd = os.open(directory / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(pem)
                (directory / "active").write_text(kid + "\n")
        loaded = self._parse_key_file(directory / f"{kid}.pem", (directory / f"{kid}.pem").stat().st_size)
        object.__setattr__(self, "_di_key", loaded)
        return loaded

    def sign(self, payload: dict[str, Any]) -> tuple[str, str]:
        """Sign a credential payload as vc+jwt with the active key; returns (jws, kid)."""
        key = self.active()
        return jose.sign_compact(payload, key.private_key, kid=key.kid, alg=key.alg), key.kid
