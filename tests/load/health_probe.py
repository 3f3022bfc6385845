"""GET /health every 100 ms from its own process (so the load client's own work does not count) until SIGTERM.

Prints one line per probe: the latency in seconds, or `failed <reason>`.
"""

from __future__ import annotations

import signal
import sys
import time

import httpx

INTERVAL = 0.1


def main(url: str) -> None:
    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    print("ready", flush=True)
    while not stop:
        began = time.perf_counter()
        try:
            # A new connection each time, as a load balancer's health check makes.
            response = httpx.get(f"{url}/health", timeout=5.0)
            line = f"{time.perf_counter() - began:.6f}" if response.status_code == 200 else (
                f"failed status {response.status_code}"
            )
        except httpx.HTTPError as exc:
            line = f"failed {type(exc).__name__}"
        print(line, flush=True)
        time.sleep(INTERVAL)


if __name__ == "__main__":
    main(sys.argv[1])
