"""Header and body read timeouts for uvicorn, which has neither (only a keep-alive timeout between requests).

A slowloris client opens a connection and sends its headers a byte at a time; uvicorn's keep-alive timer is
cancelled by every byte received, so such a connection is held for ever. This protocol (uvicorn's httptools
protocol, passed as `http=`) arms a timer when a request starts (or the connection opens) and cancels it
when the headers are complete; a second timer bounds the body. On expiry the client gets 408 and the
connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("skillproof.timeouts")

REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)


def _timeout_body(detail: str) -> bytes:
    body = b'{"error": "request_timeout", "detail": "%s"}' % detail.encode()
    return REQUEST_TIMEOUT_RESPONSE % (len(body), body)


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header read timeout and a body read timeout."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A client that connects and sends nothing is a slow header too.
        self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)

    def on_headers_complete(self) -> None:
        self._cancel(header=True)
        super().on_headers_complete()
        self._body_timer = self.loop.call_later(self.body_timeout, self._on_body_timeout)

    def on_message_complete(self) -> None:
        self._cancel(body=True)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._cancel(body=True)  # a response sent before the body was read (413, 401) ends the wait too

    def _cancel(self, *, header: bool = False, body: bool = False) -> None:
        if header and self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if body and self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel(header=True, body=True)

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._closing():
            return
        self._log_slow("headers", self.header_timeout)
        if self.cycle is None or self.cycle.response_complete:  # never interleave with a response being sent
            self.transport.write(_timeout_body(f"The request headers did not arrive within {self.header_timeout:g} s."))
        self.transport.close()

    def _on_body_timeout(self) -> None:
        self._body_timer = None
        if self._closing():
            return
        self._log_slow("body", self.body_timeout)
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            self.transport.write(_timeout_body(f"The request body did not arrive within {self.body_timeout:g} s."))
            # The app, waiting for the body, gets http.disconnect; whatever it sends then goes nowhere.
            cycle.response_started = True
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def _log_slow(self, part: str, seconds: float) -> None:
        client = self.client[0] if self.client else "unknown"
        logger.warning("closed a connection from %s: request %s not received within %g s", client, part, seconds)


def timed_protocol(header_timeout: float, body_timeout: float) -> type[TimedHttpToolsProtocol]:
    """The protocol class to pass to uvicorn as `http=`, with these timeouts in seconds."""
    return type(
        "TimedHttpToolsProtocol",
        (TimedHttpToolsProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )
