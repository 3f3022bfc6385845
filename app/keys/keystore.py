"""Signing keys kept as PEM files in the keys directory; the file provider of the key interface.

One key per purpose (key separation, NIST SP 800-57 Part 1 §5.2): `jwt` keys sign `vc+jwt` credentials and
status lists (ES256 by default, or EdDSA), `data-integrity` keys sign Data Integrity proofs (always Ed25519,
eddsa-rdfc-2022). Layout: `<kid>.pem` (PKCS#8, mode 0600) per jwt key and `active`, the kid that signs new
credentials; the same again under `data-integrity/` for the Data Integrity keys. A kid is the RFC 7638
thumbprint of the public key. Retired keys stay in the directory and are published (JWKS, DID document), so
every credential ever issued still verifies.

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
from typing import Any, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from app.credentials import jose

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
logger = logging.getLogger("skillproof.keys")
MAX_KEY_FILE_BYTES = 64 * 1024


JWT: Final = "jwt"
DATA_INTEGRITY: Final = "data-integrity"
PURPOSES: Final = (JWT, DATA_INTEGRITY)
# The algorithms a key of each purpose may have; a jwt key's is chosen by SKILLPROOF_SIGNING_ALG.
_PURPOSE_ALGS: Final = {JWT: ("ES256", "EdDSA"), DATA_INTEGRITY: ("EdDSA",)}


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
    purpose: str = JWT
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
    """Keys on disk; held in memory, re-read on reload() or when `active` is rewritten (another process rotated).

    The store of `jwt` keys holds the store of `data-integrity` keys (`data_integrity`, in `data-integrity/`);
    ensure, reload, signal_reload and withdraw act on both, rotate on the purpose asked for.
    """

    RECHECK_SECONDS = 1.0

    def __init__(self, directory: Path, default_alg: str = "ES256", *, purpose: str = JWT):
        if purpose not in PURPOSES:
            raise KeyStoreError(f"unknown key purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
        self.directory = Path(directory)
        self.purpose = purpose
        self.default_alg = default_alg if purpose == JWT else "EdDSA"
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._active_kid: str | None = None
        self._fingerprint: tuple[int, ...] | None = None
        self._checked_at = 0.0
        self.data_integrity: FileKeyStore | None = (
            FileKeyStore(self.directory / DATA_INTEGRITY, purpose=DATA_INTEGRITY) if purpose == JWT else None
        )

    # -- setup -------------------------------------------------------------------------------------

    def ensure(self, *, strict: bool = True) -> SigningKey:
        """Create the directory and a first key if there is none; load. strict (serving): a key file readable by
        others refuses; otherwise (the `keys` commands) it is skipped like any other bad file."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._exclusive():
            if not self._read_active_kid():
                self._write_new_key(self.default_alg)
        self._load(strict=strict)
        if self.data_integrity is not None:
            self.data_integrity.ensure(strict=strict)
        return self.active()

    def rotate(self, alg: str | None = None, *, purpose: str = JWT) -> SigningKey:
        """Make a new key the signing key of `purpose`; older keys stay published."""
        if purpose != self.purpose:
            return self._store_for(purpose).rotate(alg, purpose=purpose)
        if alg is not None and alg not in _PURPOSE_ALGS[purpose]:
            raise KeyStoreError(f"{purpose} keys are {' or '.join(_PURPOSE_ALGS[purpose])}, not {alg}")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._exclusive():
            self._write_new_key(alg or self.default_alg)
        self._load()
        return self.active()

    def _store_for(self, purpose: str) -> FileKeyStore:
        if purpose == self.purpose:
            return self
        if purpose == DATA_INTEGRITY and self.data_integrity is not None:
            return self.data_integrity
        raise KeyStoreError(f"unknown key purpose {purpose!r}; use one of {', '.join(PURPOSES)}")

    def withdraw(self, kid: str) -> None:
        """Stop publishing a key (e.g. compromised): its credentials stop verifying (unknown_key).

        The file moves to keys/withdrawn/ for the record and is never loaded again. The active key cannot be
        withdrawn; rotate first.
        """
        if self.data_integrity is not None and (self.data_integrity.directory / f"{kid}.pem").is_file():
            self.data_integrity.withdraw(kid)
            return
        with self._exclusive():
            self._load()
            if kid not in self._keys:
                raise KeyStoreError(f"no published key has kid {kid!r}")
            kid_active = self.active().kid
            if kid == kid_active:
                rotate = "skillproof keys rotate" + ("" if self.purpose == JWT else f" --purpose {self.purpose}")
                raise KeyStoreError(f"the active signing key cannot be withdrawn; run `{rotate}` first")
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

    def _parse_key_file(self, path: Path, size: int) -> SigningKey:
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
        alg = _alg_of(private_key)
        if alg not in _PURPOSE_ALGS[self.purpose]:
            allowed = " or ".join(_PURPOSE_ALGS[self.purpose])
            raise SkippedKeyFile(f"holds a {alg} key, but {self.purpose} keys are {allowed}")
        kid = kid_of(private_key.public_key())
        if path.name != f"{kid}.pem":
            # A key published under a name of its own choosing could be a stray copy: only <kid>.pem is ours.
            raise SkippedKeyFile(f"is not named after its key (expected {kid}.pem)")
        return SigningKey(kid=kid, alg=alg, private_key=private_key, purpose=self.purpose)

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
        logger.info("keys: reloaded %d %s key(s), active %s, %d file(s) skipped", len(report.kids), self.purpose,
                    report.active, len(report.skipped))
        if self.data_integrity is not None and self.data_integrity._active_kid is not None:
            extra = self.data_integrity.reload()
            prefix = f"{DATA_INTEGRITY}/"
            report = ReloadReport(report.active, report.kids,
                                  report.skipped + [(prefix + name, reason) for name, reason in extra.skipped])
        return report

    def signal_reload(self) -> None:
        """Ask every process serving from this directory to reload: rewrite `active` (same content)."""
        with self._exclusive():
            active = self._read_active_kid()
            if active is None:
                raise KeyStoreError(f"no active key is named in {self.directory / 'active'}")
            self._write_active(active)
        if self.data_integrity is not None and self.data_integrity._read_active_kid() is not None:
            self.data_integrity.signal_reload()

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
        """The key of this store's purpose that signs now (for the jwt store: the vc+jwt signing key)."""
        self._refresh()
        if self._active_kid is None:
            raise KeyStoreError("no signing key loaded")
        return self._keys[self._active_kid]

    def data_integrity_key(self) -> SigningKey:
        """The Ed25519 key that signs Data Integrity proofs; created (in data-integrity/) when missing."""
        store = self._store_for(DATA_INTEGRITY)
        if store._active_kid is None:
            store.ensure()
        return store.active()

    def data_integrity_keys(self) -> list[SigningKey]:
        """Every Data Integrity key, active first (none before the first is created)."""
        store = self._store_for(DATA_INTEGRITY)
        return store.all_keys() if store._active_kid is not None else []

    def all_keys(self) -> list[SigningKey]:
        """Every key of this store's purpose (vc+jwt for the main store), active first."""
        self._refresh()
        active = self._active_kid
        return sorted(self._keys.values(), key=lambda key: (key.kid != active, key.kid))

    def public_key(self, kid: str) -> PublicKey | None:
        """The public key with that kid (of any purpose: a DI proof names its key the same way), or None."""
        self._refresh()
        key = self._keys.get(kid)
        if key is None and self.data_integrity is not None and self.data_integrity._active_kid is not None:
            return self.data_integrity.public_key(kid)
        return key.public_key if key else None

    def sign(self, payload: dict[str, Any], *, did: str | None = None) -> tuple[str, str]:
        """Sign a credential payload as vc+jwt with the active jwt key; returns (jws, kid).

        The header `kid` is the DID URL `<did>#<kid>` (OB 3.0 §8.2.3: a URI that dereferences to the key;
        VC-JOSE-COSE §3.3.1: kid MUST be present when the key is a DID URL); `did` defaults to the payload's
        `iss`, the issuer DID the key belongs to.
        """
        key = self._store_for(JWT).active()
        owner = did if did is not None else payload.get("iss")
        if not isinstance(owner, str) or not owner:
            raise KeyStoreError("signing needs the issuer DID (the payload's `iss`) to name the key")
        token = jose.sign_compact(payload, key.private_key, kid=verification_method_id(owner, key.kid), alg=key.alg)
        return token, key.kid


def verification_method_id(did: str, kid: str) -> str:
    """The DID URL of a key in the issuer's DID document: `<did>#<kid>` (DID Core §3.2 fragment)."""
    return f"{did}#{kid}"
