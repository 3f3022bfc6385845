"""Header and body read timeouts for uvicorn, which has neither (only a keep-alive timeout between requests).

A slowloris client opens a connection and sends its headers a byte at a time; uvicorn's keep-alive timer is
cancelled by every byte received, so such a connection is held for ever. This protocol (uvicorn's httptools
protocol, passed as `http=`) arms a timer when a request starts (or the connection opens) and cancels it
when the headers are complete; a second timer bounds the body. On expiry the client gets 408 and the
connection is closed. Headers are also capped in size (httptools itself accepts megabytes of them): 431.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("skillproof.timeouts")

MAX_HEADER_BYTES = 64 * 1024


def _error_response(status: bytes, code: str, detail: str) -> bytes:
    body = json.dumps({"error": code, "detail": detail}).encode()
    head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: %d\r\n\r\n"
    return head % (status, len(body)) + body


def _timeout_body(detail: str) -> bytes:
    return _error_response(b"408 Request Timeout", "request_timeout", detail)


class _CoalescedWrites:
    """The connection's transport, with the writes made in one event-loop step sent together.

    uvicorn writes a response's status line and headers when the app starts the response and the body when it
    sends it: two send() calls, and on a kept-alive connection two TCP segments, for a response the app
    produces in one go. Held until the step ends, they leave in one send() (the kernel's share of a small
    response is mostly per call). Anything but write() is passed through, after the held bytes are sent.
    """

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._held = [data]
            self._loop.call_soon(self.flush)
        else:
            self._held.append(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held:
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self._transport, name)


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header read timeout and a body read timeout.

    The parser's callbacks only note where the request is (headers or body still to come); the timers are armed
    and cancelled once the bytes received so far are parsed. A request that arrives whole (the usual case)
    arms none: two timers armed and cancelled per request cost more than the rest of this class.
    """

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = False  # a request (or the connection) has begun and its headers are incomplete
        self._awaiting_body = False  # headers complete, body not yet
        self._header_bytes = 0  # received while the headers of a request are incomplete (approximate per chunk)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._awaiting_headers and self._header_bytes > self.max_header_bytes and not self._closing():
            self._awaiting_headers = self._awaiting_body = False
            self._arm_timers()
            logger.warning("closed a connection: request headers over %d bytes", self.max_header_bytes)
            self.transport.write(_error_response(
                b"431 Request Header Fields Too Large", "headers_too_large",
                f"The request headers are over {self.max_header_bytes} bytes.",
            ))
            self.transport.close()
            return
        self._arm_timers()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = _CoalescedWrites(transport, self.loop)  # type: ignore[assignment]
        # A client that connects and sends nothing is a slow header too.
        self._awaiting_headers = True
        self._arm_timers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._awaiting_headers = self._awaiting_body = False
        self._arm_timers()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._awaiting_headers:
            self._header_bytes = 0  # the next request on a kept-alive connection
            self._awaiting_headers = True

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        super().on_headers_complete()
        self._awaiting_body = True

    def on_message_complete(self) -> None:
        self._awaiting_body = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._awaiting_body = False  # a response sent before the body was read (413, 401) ends the wait too
        self._arm_timers()

    def _arm_timers(self) -> None:
        """Arm the timer of the part awaited, cancel the other's (each keeps its start while awaited)."""
        if self._awaiting_headers:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(self.header_timeout, self._on_header_timeout)
        elif self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        if self._awaiting_body:
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(self.body_timeout, self._on_body_timeout)
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        self._awaiting_headers = False
        if self._closing():
            return
        self._log_slow("headers", self.header_timeout)
        if self.cycle is None or self.cycle.response_complete:  # never interleave with a response being sent
            self.transport.write(_timeout_body(f"The request headers did not arrive within {self.header_timeout:g} s."))
        self.transport.close()

    def _on_body_timeout(self) -> None:
        self._body_timer = None
        self._awaiting_body = False
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
