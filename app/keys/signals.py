"""SIGHUP re-reads the key files (the explicit reload of a single process, as nginx and sshd do)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from app.keys.keystore import FileKeyStore, KeyStoreError


def install_sighup_reload(keystore: FileKeyStore) -> Callable[[], None]:
    """Reload `keystore` on SIGHUP, off the event loop; returns the uninstaller (a no-op where unsupported)."""
    loop = asyncio.get_running_loop()

    def reload() -> None:
        with contextlib.suppress(KeyStoreError):  # already logged; the keys loaded before stay in use
            keystore.reload()

    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.run_in_executor(None, reload))
    except (RuntimeError, ValueError, NotImplementedError, AttributeError):
        return lambda: None  # not the main thread (e.g. TestClient) or no SIGHUP on this platform

    def uninstall() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return uninstall
