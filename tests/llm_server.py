"""A small OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1 in a thread, scripted.

Each test queues replies (status, headers, body or streamed chunks, delay) or sets a handler that answers
from the request; the server records every request it received and how many body bytes it sent.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections import defaultdict, deque
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


# -- a scripted model: item batches per type, and a solver that answers from a book of solutions ----------


def common(prompt: str, explanation: str = "Because that is how Python works.") -> dict[str, Any]:
    return {"prompt": prompt, "explanation": explanation, "difficulty": 1, "competencies": ["Core Syntax"]}


class FakeModel:
    """Answers item requests with scripted batches per type, and solver requests from a book of solutions."""

    def __init__(self) -> None:
        self.batches: dict[str, deque[str | dict[str, Any]]] = defaultdict(deque)
        self.solutions: dict[str, Any] = {}
        self.solver_answers: dict[str, deque[Any]] = {}

    def batch(self, item_type: str, *items: dict[str, Any]) -> None:
        self.batches[item_type].append({"items": list(items)})

    def raw(self, item_type: str, content: str) -> None:
        self.batches[item_type].append(content)

    def __call__(self, received: Received) -> Reply:
        name = received.schema_name
        if name.startswith("skillproof_items_"):
            kind = name.removeprefix("skillproof_items_")
            return completion(self.batches[kind].popleft())
        kind = name.removeprefix("skillproof_solver_")
        question = parse_solver_question(received)
        scripted = self.solver_answers.get(question.question)
        solution = scripted.popleft() if scripted else self.solutions[question.question]
        if kind == "single_choice":
            answer: dict[str, Any] = {"choice": question.label_of(solution)}
        elif kind == "multiple_response":
            answer = {"choices": [question.label_of(text) for text in solution]}
        elif kind in ("numeric", "short_text"):
            answer = {"answer": solution}
        elif kind == "ordering":
            answer = {"order": [question.label_of(text) for text in solution]}
        else:
            answer = {
                "pairs": [
                    {"left": int(number), "right": question.label_of(solution[text], "right")}
                    for number, text in question.left.items()
                ]
            }
        return completion({"reasoning": "Worked it out.", **answer})

    # Drafts as the model writes them, each registered with its true solution for the fake solver.

    def single_choice(
        self, prompt: str, options: list[str], correct: list[int], solution: str | None = None
    ) -> dict[str, Any]:
        valid = [options[index] for index in correct if 0 <= index < len(options)]
        self.solutions[prompt] = solution or (valid[0] if valid else options[0])
        return {**common(prompt), "options": options, "correct_option_indexes": correct}

    def multiple_response(self, prompt: str, options: list[str], correct: list[int]) -> dict[str, Any]:
        self.solutions[prompt] = [options[index] for index in correct]
        return {**common(prompt), "options": options, "correct_option_indexes": correct}

    def numeric(self, prompt: str, answer: float, solution: float | None = None) -> dict[str, Any]:
        self.solutions[prompt] = answer if solution is None else solution
        return {**common(prompt), "answer": answer, "absolute_tolerance": 0, "relative_tolerance": 0}

    def short_text(self, prompt: str, answer: str, accepted: list[str]) -> dict[str, Any]:
        self.solutions[prompt] = answer
        return {
            **common(prompt), "answer": answer, "accepted_answers": accepted, "case_sensitive": False,
            "pattern": None,
        }

    def ordering(self, prompt: str, options: list[str], order: list[int]) -> dict[str, Any]:
        self.solutions[prompt] = [options[index] for index in order]
        return {**common(prompt), "options": options, "correct_order": order}

    def matching(self, prompt: str, left: list[str], right: list[str], pairs: list[tuple[int, int]]) -> dict[str, Any]:
        self.solutions[prompt] = {left[i]: right[j] for i, j in pairs}
        return {**common(prompt), "left": left, "right": right, "pairs": [{"left": i, "right": j} for i, j in pairs]}


def script_every_type(model: FakeModel) -> None:
    model.batch("single_choice", model.single_choice(
        "What does `len({1, 2, 2, 3})` return?", ["4", "3", "2", "It raises TypeError"], [1]))
    model.batch("multiple_response", model.multiple_response(
        "Which of these built-in types are immutable? Select all that apply.",
        ["tuple", "list", "frozenset", "dict"], [0, 2]))
    model.batch("numeric", model.numeric("What is the value of `7 // 2 + 7 % 2`? Give a whole number.", 4.0))
    model.batch("short_text", model.short_text(
        "Which built-in function returns the number of items in a list?", "len", ["len()"]))
    model.batch("ordering", model.ordering(
        "Order these parts of a try statement as they appear in the code, first to last.",
        ["finally", "try", "except"], [1, 2, 0]))
    model.batch("matching", model.matching(
        "Match each literal to the type of the object it creates.",
        ["[]", "{}", "()"], ["tuple", "list", "dict", "set"], [(0, 1), (1, 2), (2, 0)]))
