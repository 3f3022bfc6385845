"""A small OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1 in a thread, scripted.

Each test queues replies (status, headers, body or streamed chunks, delay) or sets a handler that answers
from the request; the server records every request it received and how many body bytes it sent. Given a
`Dialect`, it first accepts or refuses the request's `response_format` exactly as that server does.
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

from app.assessments.generators import prompts
from app.llm.structured import SCHEMA_INSTRUCTION


@dataclass
class Reply:
    """What the server answers: `chunks` (streamed) replace `body`; `content_length` is what it announces."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    chunks: Iterable[bytes] | None = None
    content_length: int | None = None
    delay: float = 0.0


def completion(
    content: str | dict[str, Any] | None, *, finish_reason: str = "stop", usage: tuple[int, int] | None = None
) -> Reply:
    """A 200 chat completion whose message content is `content` (a dict is sent as its JSON text)."""
    text = json.dumps(content) if isinstance(content, dict) else content
    body: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return Reply(body=body)


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
    def form(self) -> str:
        """The `response_format` type asked for; "text" when there is none."""
        response_format = self.json.get("response_format")
        return str(response_format["type"]) if isinstance(response_format, dict) else "text"

    @property
    def schema_name(self) -> str:
        """The schema's name (json_schema), else what the prompt asks for: items of a type, or a solver answer."""
        if self.form == "json_schema":
            return str(self.json["response_format"]["json_schema"]["name"])
        user = next(message["content"] for message in self.messages if message["role"] == "user")
        if user.startswith("Question: (hidden)"):
            return "skillproof_options_only_" + next(
                kind for kind, text in prompts.OPTIONS_ONLY_INSTRUCTIONS.items() if text in user
            )
        if user.startswith("Item"):  # the critic: its task names the choice and text kinds; the rest share one
            return "skillproof_critic_" + next(
                (kind for kind, text in prompts.CRITIC_TASKS.items() if text and text in user), "numeric"
            )
        instructions = prompts.SOLVER_INSTRUCTIONS if user.startswith("Question:") else prompts.TYPE_INSTRUCTIONS
        prefix = "skillproof_solver_" if user.startswith("Question:") else "skillproof_items_"
        return prefix + next(kind for kind, text in instructions.items() if text in user)

    @property
    def schema(self) -> dict[str, Any]:
        """The schema sent: in `response_format`, or (json_object without one, text) in the system prompt."""
        response_format = self.json.get("response_format") or {}
        if self.form == "json_schema":
            schema: dict[str, Any] = response_format["json_schema"]["schema"]
            return schema
        if "schema" in response_format:
            return dict(response_format["schema"])
        return self.schema_in_prompt

    @property
    def schema_in_prompt(self) -> dict[str, Any]:
        system = self.messages[0]["content"]
        assert SCHEMA_INSTRUCTION in system, "no schema in the prompt"
        return dict(json.loads(system.split(SCHEMA_INSTRUCTION, 1)[1]))


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
    """The solver prompt as the generator writes it: "Question:", then "Options:" or "Left:"/"Right:" blocks
    (the critic's starts with "Item:" or "Item (level: ...):" and has a "Key: ..." block)."""
    text = next(message["content"] for message in received.messages if message["role"] == "user")
    blocks = text.split("\n\n")
    question = re.sub(r"^(?:Question|Item(?: \(level: [^)]*\))?):\n", "", blocks[0])
    sections: dict[str, dict[str, str]] = {"Options:": {}, "Left:": {}, "Right:": {}}
    for block in blocks[1:]:
        head, _, rest = block.partition("\n")
        if head in sections:
            for line in rest.splitlines():
                match = re.fullmatch(r"(\w+)\. (.*)", line)
                assert match, line
                sections[head][match.group(1)] = match.group(2)
    return SolverQuestion(question, sections["Options:"], sections["Left:"], sections["Right:"])


def critic_key(received: Received) -> str:
    """The key line of a critic request ("Key: B" -> "B")."""
    text = next(message["content"] for message in received.messages if message["role"] == "user")
    return next(line.removeprefix("Key: ") for line in text.splitlines() if line.startswith("Key: "))


class FakeLlmServer:
    """Serves POST /v1/chat/completions on a free port: queued replies first, then `handler`, else a 500."""

    def __init__(self, handler: Callable[[Received], Reply] | None = None, dialect: Dialect | None = None):
        self.handler = handler
        self.dialect = dialect
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
            refused = self.dialect.refusal(received) if self.dialect is not None else None
            scripted = self.queue.popleft() if self.queue and refused is None else None
        if refused is not None:
            return refused
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


DEFAULT_COMPETENCY = "Core Syntax"  # replaced by the planned competencies when the request restricts them


def common(prompt: str, explanation: str = "Because that is how Python works.") -> dict[str, Any]:
    return {"prompt": prompt, "explanation": explanation, "difficulty": 1, "competency": DEFAULT_COMPETENCY}


def rationales(options: list[str], correct: list[int]) -> list[dict[str, Any]]:
    """A rationale for every distractor, as a careful model writes them."""
    return [
        {"option": index, "why_wrong": f"{text} is not what the code gives.",
         "misconception": f"Confuses this with {text}."}
        for index, text in enumerate(options) if index not in correct
    ]


class FakeModel:
    """Answers item requests with scripted batches per type, and solver requests from a book of solutions.

    The critic agrees with the key and sees no flaw unless `critiques[prompt]` says otherwise; with the stem
    hidden (options-only), the solver picks a wrong option unless the prompt is in `cued`.
    """

    def __init__(self) -> None:
        self.batches: dict[str, deque[str | dict[str, Any]]] = defaultdict(deque)
        self.solutions: dict[str, Any] = {}
        self.solver_answers: dict[str, deque[Any]] = {}
        # prompt -> {"defensible": [option texts], "other_correct_answers": [...], "flaws": [(flaw, detail)]}
        self.critiques: dict[str, dict[str, Any]] = {}
        self.cued: set[str] = set()
        self._prompt_of_options: dict[frozenset[str], str] = {}
        self._marked: dict[str, list[str]] = {}  # prompt -> the option texts the draft marks as keys

    def batch(self, item_type: str, *items: dict[str, Any]) -> None:
        self.batches[item_type].append({"items": list(items)})

    def raw(self, item_type: str, content: str) -> None:
        self.batches[item_type].append(content)

    def __call__(self, received: Received) -> Reply:
        name = received.schema_name
        if name.startswith("skillproof_items_"):
            kind = name.removeprefix("skillproof_items_")
            return self._reply(received, self._follow_plan(self.batches[kind].popleft(), received))
        if name.startswith("skillproof_critic_"):
            return self._critique(name.removeprefix("skillproof_critic_"), received)
        if name.startswith("skillproof_options_only_"):
            return self._options_only(name.removeprefix("skillproof_options_only_"), received)
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
        elif kind == "sql_query":
            answer = {"query": solution}
        elif kind == "python_function":
            answer = {"code": solution}
        elif kind == "ordering":
            answer = {"order": [question.label_of(text) for text in solution]}
        else:
            answer = {
                "pairs": [
                    {"left": int(number), "right": question.label_of(solution[text], "right")}
                    for number, text in question.left.items()
                ]
            }
        return self._reply(received, {"reasoning": "Worked it out.", **answer})

    @staticmethod
    def _reply(received: Received, content: str | dict[str, Any]) -> Reply:
        """The answer as a model gives it: bare JSON in the JSON forms; in plain text, fenced after a lead-in."""
        text = json.dumps(content) if isinstance(content, dict) else content
        if received.form == "text" and isinstance(content, dict):
            text = f"Here is the JSON you asked for:\n```json\n{json.dumps(content, indent=2)}\n```"
        return completion(text, usage=(len(received.body) // 4, len(text) // 4))

    @staticmethod
    def _follow_plan(batch: str | dict[str, Any], received: Received) -> str | dict[str, Any]:
        """Drafts with the default tag take the competencies the request plans, in order, as a model would."""
        allowed = received.schema["properties"]["items"]["items"]["properties"]["competency"].get("enum")
        if not isinstance(batch, dict) or not allowed or DEFAULT_COMPETENCY in allowed:
            return batch
        text = received.messages[1]["content"]
        planned = [name for number, name in re.findall(r'(\d+) on "([^"]+)"', text) for _ in range(int(number))]
        planned += allowed * len(batch["items"])  # the extra items: any competency
        items = []
        for draft in batch["items"]:
            if draft.get("competency") == DEFAULT_COMPETENCY:
                draft = {**draft, "competency": planned.pop(0)}
            items.append(draft)
        return {**batch, "items": items}

    def _critique(self, kind: str, received: Received) -> Reply:
        question = parse_solver_question(received)
        scripted = self.critiques.get(question.question, {})
        flaws = [{"flaw": flaw, "detail": detail} for flaw, detail in scripted.get("flaws", [])]
        answer: dict[str, Any] = {"reasoning": "Checked every option.", "flaws": flaws}
        if kind in ("single_choice", "multiple_response"):
            if "defensible" in scripted:
                answer["defensible"] = [question.label_of(text) for text in scripted["defensible"]]
            else:
                answer["defensible"] = critic_key(received).split(", ")
        elif kind == "short_text":
            answer["other_correct_answers"] = scripted.get("other_correct_answers", [])
        return self._reply(received, {"reasoning": answer.pop("reasoning"), **answer})

    def _options_only(self, kind: str, received: Received) -> Reply:
        question = parse_solver_question(received)
        assert question.question == "Question: (hidden)", question.question
        prompt = self._prompt_of_options[frozenset(question.options.values())]
        solution = self.solutions[prompt]
        keyed = [solution] if isinstance(solution, str) else list(solution)
        if prompt in self.cued:
            chosen = self._marked[prompt]
        else:
            chosen = [min(text for text in question.options.values() if text not in keyed + self._marked[prompt])]
        labels = [question.label_of(text) for text in chosen]
        if kind == "single_choice":
            return self._reply(received, {"reasoning": "A guess.", "choice": labels[0]})
        return self._reply(received, {"reasoning": "A guess.", "choices": labels})

    # Drafts as the model writes them, each registered with its true solution for the fake solver.

    def single_choice(
        self, prompt: str, options: list[str], correct: list[int], solution: str | None = None
    ) -> dict[str, Any]:
        valid = [options[index] for index in correct if 0 <= index < len(options)]
        self.solutions[prompt] = solution or (valid[0] if valid else options[0])
        self._prompt_of_options[frozenset(options)] = prompt
        self._marked[prompt] = valid
        return {**common(prompt), "options": options, "correct_option_indexes": correct,
                "distractor_rationales": rationales(options, correct)}

    def multiple_response(self, prompt: str, options: list[str], correct: list[int]) -> dict[str, Any]:
        self.solutions[prompt] = [options[index] for index in correct]
        self._prompt_of_options[frozenset(options)] = prompt
        self._marked[prompt] = list(self.solutions[prompt])
        return {**common(prompt), "options": options, "correct_option_indexes": correct,
                "distractor_rationales": rationales(options, correct)}

    def numeric(
        self, prompt: str, answer: float, solution: float | None = None, computation: str | None = None
    ) -> dict[str, Any]:
        """A numeric draft; its computation defaults to the expression in the prompt's backticks."""
        self.solutions[prompt] = answer if solution is None else solution
        if computation is None:
            computation = re.findall(r"`([^`]+)`", prompt)[0]
        return {**common(prompt), "computation": computation, "answer": answer, "absolute_tolerance": 0,
                "relative_tolerance": 0}

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

    def sql_query(
        self, prompt: str, tables: list[dict[str, Any]], reference: str, variants: list[dict[str, list[list[Any]]]],
        *, ordered: bool = False, solution: str | None = None,
    ) -> dict[str, Any]:
        """A SQL task draft: `variants` give new rows by table name; the solver writes `solution` (default: the
        reference query)."""
        self.solutions[prompt] = solution or reference
        return {
            **common(prompt, "Filter on every condition the prompt states."), "tables": tables,
            "reference_query": reference,
            "hidden_variants": [{"tables": [{"table": name, "rows": rows} for name, rows in variant.items()]}
                                for variant in variants],
            "ordered": ordered, "column_names": False, "tolerance": 0.0,
        }

    def python_function(
        self, prompt: str, name: str, params: list[str], reference: str, examples: list[tuple[str, str]],
        tests: list[tuple[str, str, int]], *, solution: str | None = None,
    ) -> dict[str, Any]:
        """A Python task draft: calls and expected values as Python literals, as the model writes them; the solver
        writes `solution` (default: the reference)."""
        self.solutions[prompt] = solution or reference
        return {
            **common(prompt, "Handle the edge cases the prompt names."), "function_name": name, "parameters": params,
            "reference_solution": reference,
            "examples": [{"call": call, "expected": expected} for call, expected in examples],
            "hidden_tests": [{"call": call, "expected": expected, "weight": weight}
                             for call, expected, weight in tests],
        }


def script_every_type(model: FakeModel) -> None:
    """One good item of each type, none of them a copy of a bundled bank item (those would be dropped)."""
    model.batch("single_choice", model.single_choice(
        "What does `max([3, 7, 5])` return?", ["3", "7", "5", "15"], [1]))
    model.batch("multiple_response", model.multiple_response(
        "Which of these names are Python keywords? Select all that apply.",
        ["lambda", "print", "yield", "len"], [0, 2]))
    model.batch("numeric", model.numeric("What is the value of `2 ** 4 - 10 // 3`? Give a whole number.", 13.0))
    model.batch("short_text", model.short_text(
        "Which built-in function returns the number of items in a list?", "len", ["len()"]))
    model.batch("ordering", model.ordering(
        "Order these parts of a try statement as they appear in the code, first to last.",
        ["finally", "try", "except"], [1, 2, 0]))
    model.batch("matching", model.matching(
        "Match each built-in function to the value it returns for the list `[4, 1, 3]`.",
        ["len", "max", "min"], ["3", "4", "1", "8"], [(0, 0), (1, 1), (2, 2)]))


# -- server dialects: which `response_format` each accepts, and how it refuses the others -------------------------
# The sources for each are cited in tests/test_llm_dialects.py.


@dataclass(frozen=True)
class Dialect:
    """What one server does with `response_format`: the types it serves, and its answer to any other type."""

    name: str
    accepts: frozenset[str]  # response_format types it serves ("text" also stands for no response_format)
    refuse: Callable[[str], Reply] | None  # its answer to another type; None: it ignores the type, answers text
    json_object_needs_the_word_json: bool = False

    def refusal(self, received: Received) -> Reply | None:
        """The error reply this server gives the request, or None when it serves it."""
        form = received.form
        if form not in self.accepts:
            return self.refuse(form) if self.refuse is not None else None
        needs_json = form == "json_object" and self.json_object_needs_the_word_json
        if needs_json and "json" not in json.dumps(received.messages).lower():
            return Reply(status=400, body={"error": {
                "message": "'messages' must contain the word 'json' in some form, to use 'response_format' of "
                           "type 'json_object'.",
                "type": "invalid_request_error", "param": "messages", "code": None,
            }})
        return None


def _openai_refusal(form: str) -> Reply:
    return Reply(status=400, body={"error": {
        "message": f"Invalid value: '{form}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
        "type": "invalid_request_error", "param": "response_format.type", "code": "invalid_value",
    }})


def _vllm_refusal(form: str) -> Reply:
    message = ("1 validation error for ChatCompletionRequest\nresponse_format.type\n  Input should be 'text', "
               f"'json_object' or 'json_schema' [type=literal_error, input_value='{form}', input_type=str]")
    return Reply(status=400, body={"error": {"message": message, "type": "BadRequestError", "param": None,
                                             "code": 400}})


def _llama_cpp_refusal(form: str) -> Reply:
    return Reply(status=400, body={"error": {
        "code": 400, "type": "invalid_request_error",
        "message": f'response_format type must be one of "text" or "json_object", but got: {form}',
    }})


def _llama_cpp_python_refusal(form: str) -> Reply:
    # FastAPI's RequestValidationError, caught by the server's RouteErrorHandler and wrapped as a 500; the body is
    # what llama-cpp-python 0.3.36 answered on this machine (its traceback's path shortened).
    message = (
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
        f"'msg': \"Input should be 'text' or 'json_object'\", 'input': '{form}', 'ctx': {{'expected': "
        "\"'text' or 'json_object'\"}}}\n\n  File \"/venv/lib/python3.11/site-packages/llama_cpp/server/app.py\", "
        "line 376, in create_chat_completion\n    POST /v1/chat/completions"
    )
    return Reply(status=500, body={"error": {"message": message, "type": "internal_server_error", "param": None,
                                             "code": None}})


def _no_structured_output_refusal(form: str) -> Reply:
    return Reply(status=400, body={"error": {"message": "response_format is not supported by this server",
                                             "type": "invalid_request_error", "param": "response_format"}})


DIALECTS: dict[str, Dialect] = {
    "openai": Dialect("openai", frozenset({"text", "json_object", "json_schema"}), _openai_refusal,
                      json_object_needs_the_word_json=True),
    "vllm": Dialect("vllm", frozenset({"text", "json_object", "json_schema", "structural_tag"}), _vllm_refusal),
    "ollama": Dialect("ollama", frozenset({"text", "json_object", "json_schema"}), None),
    "llama.cpp": Dialect("llama.cpp", frozenset({"text", "json_object", "json_schema"}), _llama_cpp_refusal),
    "llama-cpp-python": Dialect("llama-cpp-python", frozenset({"text", "json_object"}), _llama_cpp_python_refusal),
    "no-structured-output": Dialect("no-structured-output", frozenset({"text"}), _no_structured_output_refusal),
}
