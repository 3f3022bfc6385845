"""Node.js and the ecosystem's npm packages (tests/interop, installed by `make node-deps`) for the interop tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

INTEROP = Path(__file__).parent / "interop"


def node_or_skip(package: str) -> str:
    """The node executable, or a skip saying what is missing: Node.js 20+, or the npm `package` in tests/interop."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(f"node is not on PATH: the {package} interop test needs Node.js 20+")
    if not (INTEROP / "node_modules" / package).is_dir():
        pytest.skip(f"tests/interop/node_modules lacks {package}: run `make node-deps` (needs npm)")
    return node
