"""Reproducible installs: the lock files pin every dependency with hashes, and this environment matches them."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.config import PROJECT_ROOT

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def _pins(lock_name: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every requirement of a pip-compile lock file."""
    pins: dict[str, tuple[str, int]] = {}
    current = ""
    for line in (PROJECT_ROOT / lock_name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def _declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(spec) for spec in project["dependencies"]]
    dev = [Requirement(spec) for spec in project["optional-dependencies"]["dev"]]
    return runtime, dev


def test_lock_files_pin_every_declared_dependency_with_hashes() -> None:
    runtime, dev = _declared()
    for lock_name, required in (("requirements.lock", runtime), ("requirements-dev.lock", runtime + dev)):
        pins = _pins(lock_name)
        assert pins, lock_name
        for requirement in required:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{requirement.name} is not in {lock_name}: run `make lock`"
            assert requirement.specifier.contains(pins[name][0], prereleases=True), (
                f"{lock_name} pins {name}=={pins[name][0]}, outside {requirement.specifier}: run `make lock`"
            )
        assert all(hashes > 0 for _, hashes in pins.values()), f"{lock_name} has a pin without a hash"
        assert "setuptools" in pins, f"{lock_name} lacks the build backend (needed with --no-build-isolation)"


def test_this_environment_is_the_locked_one() -> None:
    for name, (version, _) in _pins("requirements-dev.lock").items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a platform-specific pin (e.g. uvloop) not installed here
        assert installed == version, f"{name} {installed} installed, {version} locked: run `make install`"


def test_image_and_make_install_from_the_locks() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "COPY requirements.lock" in dockerfile
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "--require-hashes -r $(DEV_LOCK)" in makefile
