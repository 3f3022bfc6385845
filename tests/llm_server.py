"""A small OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1 in a thread, scripted.

Each test queues replies (status, headers, body or streamed chunks, delay) or sets a handler that answers
from the request; the server records every request it received and how many body bytes it sent.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server answers: `chunks` (streamed) replace `body`; `content_length` is what it announces."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    chunks: Iterable[bytes] | None = None
    content_length: int | None = None
    delay: float = 0.0


def completion(content: str | dict[str, Any] | None, *, finish_reason: str = "stop") -> Reply:
    """A 200 chat completion whose message content is `content` (a dict is sent as its JSON text)."""
    text = json.dumps(content) if isinstance(content, dict) else content
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": "fake-model",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
            ],
        }
    )


@dataclass
class Received:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.json["messages"])

    @property
    def schema_name(self) -> str:
        return str(self.json["response_format"]["json_schema"]["name"])

    @property
    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.json["response_format"]["json_schema"]["schema"]
        return schema


@dataclass
class SolverQuestion:
    """A solver request, read back: the question and the labelled options."""

    question: str
    options: dict[str, str]
    left: dict[str, str]
    right: dict[str, str]

    def label_of(self, text: str, side: str = "options") -> str:
        labelled: dict[str, str] = getattr(self, side)
        return next(label for label, value in labelled.items() if value == text)


def parse_solver_question(received: Received) -> SolverQuestion:
    """The solver prompt as the generator writes it: "Question:", then "Options:" or "Left:"/"Right:" blocks."""
    text = next(message["content"] for message in received.messages if message["role"] == "user")
    blocks = text.split("\n\n")
    question = blocks[0].removeprefix("Question:\n")
    sections: dict[str, dict[str, str]] = {"Options:": {}, "Left:": {}, "Right:": {}}
    for block in blocks[1:]:
        head, _, rest = block.partition("\n")
        if head in sections:
            for line in rest.splitlines():
                match = re.fullmatch(r"(\w+)\. (.*)", line)
                assert match, line
                sections[head][match.group(1)] = match.group(2)
    return SolverQuestion(question, sections["Options:"], sections["Left:"], sections["Right:"])


class FakeLlmServer:
    """Serves POST /v1/chat/completions on a free port: queued replies first, then `handler`, else a 500."""

    def __init__(self, handler: Callable[[Received], Reply] | None = None):
        self.handler = handler
        self.queue: deque[Reply] = deque()
        self.requests: list[Received] = []
        self.errors: list[str] = []
        self.bytes_sent = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-llm", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order."""
        self.queue.extend(replies)

    def start(self) -> FakeLlmServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            scripted = self.queue.popleft() if self.queue else None
        if scripted is not None:
            return scripted
        if self.handler is not None:
            try:
                return self.handler(received)
            except Exception as exc:  # a bug in the test's handler: report it, answer 500
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return Reply(status=500, body={"error": {"message": f"handler failed: {exc}"}})
        return Reply(status=500, body={"error": {"message": "nothing scripted for this request"}})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(
                    method="POST",
                    path=self.path,
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=self.rfile.read(length),
                )
                reply = fake._next_reply(received)
                if reply.delay and fake.stopping.wait(reply.delay):
                    return
                # The client may stop reading: what the size-cap and timeout tests want.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send(reply)

            def _send(self, reply: Reply) -> None:
                body = reply.body
                if isinstance(body, dict | list):
                    body = json.dumps(body).encode()
                elif isinstance(body, str):
                    body = body.encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                if reply.chunks is None:
                    headers.setdefault("Content-Length", str(len(body or b"")))
                elif reply.content_length is not None:
                    headers["Content-Length"] = str(reply.content_length)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Connection", "close")
                self.end_headers()
                for chunk in reply.chunks if reply.chunks is not None else [body or b""]:
                    if fake.stopping.is_set():
                        return
                    self.wfile.write(chunk)
                    with fake._lock:
                        fake.bytes_sent += len(chunk)
                self.wfile.flush()

        return Handler
