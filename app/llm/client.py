"""An OpenAI-compatible chat-completions client that copes with the servers people run.

It POSTs `{base_url}/chat/completions`. It retries 408/429/5xx, timeouts and connection errors (exponential
backoff with jitter, `Retry-After` honoured and capped), caps the response size while streaming, and trips a
circuit breaker after consecutive failures. Structured output degrades from `json_schema` to `json_object`
to plain text when a server refuses a form because of the request's shape (not retried as it was); the form
that worked is remembered per endpoint and model for the life of the client. Every call's form and token
usage are recorded for whoever asks (`recording()`). Output that does not parse or validate is sent back to
the model with the error, up to `repair_attempts` times.

Why not the `openai` SDK: it would replace little and wrap most. It honours `Retry-After` only up to 60 s and
otherwise falls back to its own backoff (no cap of a long one), reads whole bodies (no size cap while
streaming), has per-phase httpx timeouts (no total deadline against a slow drip), and knows neither the
breaker nor the form fallback; its typed errors are the one gain, for four more packages (openai, jiter, distro, tqdm).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import email.utils
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from app.llm import structured
from app.llm.structured import FORMS, Form

logger = logging.getLogger("skillproof.llm")

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_ECHO_CHARS = 4000  # how much of a rejected answer goes back with the repair prompt (~1k tokens)
MAX_ERROR_BODY_BYTES = 2000
MIN_ANSWER_TOKENS = 256  # below this much room in the context window an answer is not worth asking for
CHARS_PER_TOKEN = 3.0  # a deliberately low guess (English BPE runs ~4): the budget errs on the safe side

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, kw_only=True)
class LlmConfig:
    """Where the LLM is and how patiently it is called; every bound is explicit."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    model: str
    timeout_seconds: float = 30.0
    max_retries: int = 2
    repair_attempts: int = 2
    temperature: float = 0.2
    solver_runs: int = 3
    solver_agreement: int = 2
    breaker_threshold: int = 5
    breaker_reset_seconds: float = 60.0
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 8.0
    retry_after_cap_seconds: float = 30.0
    max_response_bytes: int = 2 * 1024 * 1024
    max_rounds: int = 3
    batch_size: int = 8
    # Tokens one answer may use (`max_tokens`; 0 sends none) and the model's context window the prompt and the
    # answer must share: 8k fits the small local models (SmolLM2, Llama 3.2 1B/3B, Qwen2.5 small).
    max_tokens: int = 2048
    context_tokens: int = 8192

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the LLM base URL must be an http(s) URL, for example http://localhost:11434/v1")
        if not self.model:
            raise ValueError("the LLM model name is required")
        if self.timeout_seconds <= 0 or self.max_retries < 0 or self.repair_attempts < 0:
            raise ValueError("timeout_seconds must be > 0, max_retries and repair_attempts >= 0")
        if not 1 <= self.solver_agreement <= self.solver_runs:
            raise ValueError("solver_agreement must be between 1 and solver_runs")
        if self.breaker_threshold < 1 or self.max_rounds < 1 or self.batch_size < 1:
            raise ValueError("breaker_threshold, max_rounds and batch_size must be >= 1")
        if self.max_tokens < 0 or self.context_tokens < 2 * MIN_ANSWER_TOKENS:
            raise ValueError(f"max_tokens must be >= 0 and context_tokens >= {2 * MIN_ANSWER_TOKENS}")

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> LlmConfig:
        """From SKILLPROOF_LLM_BASE_URL, _API_KEY, _MODEL and the optional _TIMEOUT_SECONDS, _TEMPERATURE,
        _SOLVER_RUNS, _SOLVER_AGREEMENT, _MAX_TOKENS and _CONTEXT_TOKENS."""
        base_url = getattr(settings, "llm_base_url", None)
        model = getattr(settings, "llm_model", None)
        if not base_url or not model:
            raise ValueError("the LLM generator needs SKILLPROOF_LLM_BASE_URL and SKILLPROOF_LLM_MODEL")
        names = ("timeout_seconds", "temperature", "solver_runs", "solver_agreement", "max_tokens", "context_tokens")
        tuned = {name: getattr(settings, f"llm_{name}") for name in names
                 if getattr(settings, f"llm_{name}", None) is not None}
        return cls(
            base_url=base_url, api_key=getattr(settings, "llm_api_key", None), model=model, **{**tuned, **overrides}
        )


class LlmError(Exception):
    """The LLM endpoint gave no usable answer; `reason` is one sentence an admin can act on."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LlmOutputError(LlmError):
    """The endpoint answered, but never with output that parsed and validated, even after repair prompts."""


class CircuitOpenError(LlmError):
    """The breaker is open: the call failed fast without reaching the endpoint."""


class _Retryable(LlmError):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class _Refused(LlmError):
    """The server refused the structured-output form of the request: try the next form, not the same again."""


class CircuitBreaker:
    """Closed -> open after `threshold` consecutive failures -> half-open after `reset_seconds` (one trial call)."""

    def __init__(self, threshold: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self.reset_seconds:
            return "open"
        return "half_open"

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def before_call(self) -> None:
        """Let the call through, or raise CircuitOpenError."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "open":
                assert self._opened_at is not None
                remaining = self.reset_seconds - (self._clock() - self._opened_at)
                raise CircuitOpenError(
                    f"circuit open: the LLM endpoint failed {self._failures} times in a row; "
                    f"calls resume in {max(remaining, 0):.0f} s"
                )
            if self._trial_in_flight:
                raise CircuitOpenError("circuit half-open: a trial call to the LLM endpoint is in flight")
            self._trial_in_flight = True

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_in_flight:
                self._trial_in_flight = False
                self._opened_at = self._clock()
            elif self._opened_at is None and self._failures >= self.threshold:
                self._opened_at = self._clock()


class ChatReply(NamedTuple):
    content: str | None
    finish_reason: str | None
    refusal: str | None
    form: Form = "json_schema"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class CallRecord:
    """One request to the endpoint as a job reports it: what for, in which form, what it cost."""

    purpose: str
    form: Form
    outcome: Literal["answered", "refused"]
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    seconds: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


T = TypeVar("T", bound=BaseModel)

_recorders: contextvars.ContextVar[tuple[list[CallRecord], ...]] = contextvars.ContextVar("llm_recorders", default=())


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """A short list of `location: message` for the repair prompt."""
    parts = []
    for error in exc.errors()[:limit]:
        location = ".".join(str(part) for part in error["loc"]) or "(whole answer)"
        parts.append(f"{location}: {error['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more errors")
    return "; ".join(parts)


def estimate_tokens(messages: Sequence[dict[str, str]]) -> int:
    """An upper-side guess of the prompt's tokens (no tokenizer here): characters / 3, plus the chat template."""
    return sum(int(len(message.get("content") or "") / CHARS_PER_TOKEN) + 8 for message in messages)


def attempts_text(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def public_url(url: str) -> str:
    """The base URL without credentials, query or fragment: safe to record in provenance."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def parse_retry_after(value: str | None, now: Callable[[], dt.datetime]) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - now()).total_seconds(), 0.0)


def _usage(envelope: dict[str, Any], key: str) -> int | None:
    usage = envelope.get("usage")
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class LlmClient:
    """A thread-safe client for one OpenAI-compatible endpoint; keep one per process so the breaker counts."""

    def __init__(
        self,
        config: LlmConfig,
        *,
        http: httpx.Client | None = None,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: random.Random | None = None,
    ):
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        timeout = httpx.Timeout(config.timeout_seconds, connect=min(config.timeout_seconds, 10.0))
        self._http = http or httpx.Client(timeout=timeout, follow_redirects=False)
        self._owns_http = http is None
        self.breaker = breaker or CircuitBreaker(config.breaker_threshold, config.breaker_reset_seconds)
        self._sleep = sleep
        self._jitter = jitter or random.Random()  # noqa: S311 - backoff jitter, not a secret
        self._forms_lock = threading.Lock()
        self._forms: dict[tuple[str, str], int] = {}  # (endpoint, model) -> index in FORMS of the form that works

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what the endpoint accepts, remembered ----------------------------------------------------------------

    def _form_key(self) -> tuple[str, str]:
        return public_url(self.config.base_url), self.config.model

    @property
    def form(self) -> Form:
        """The structured-output form this client uses now for its endpoint and model."""
        with self._forms_lock:
            return FORMS[self._forms.get(self._form_key(), 0)]

    def _fall_back(self, refused: int, reason: str) -> int:
        """Remember that the form at `refused` was refused; the index of the form to use from now on."""
        key = self._form_key()
        with self._forms_lock:
            index = max(self._forms.get(key, 0), refused + 1)
            self._forms[key] = index
        logger.warning(
            "the LLM endpoint %s refused structured output as %s for model %s (%s); using %s from now on",
            key[0], FORMS[refused], key[1], reason, FORMS[index],
        )
        return index

    # -- what each call cost -----------------------------------------------------------------------------------

    @contextmanager
    def recording(self) -> Iterator[list[CallRecord]]:
        """Collect a record of every request this thread makes (through any client) inside the block."""
        calls: list[CallRecord] = []
        token = _recorders.set((*_recorders.get(), calls))
        try:
            yield calls
        finally:
            _recorders.reset(token)

    @staticmethod
    def _record(record: CallRecord) -> None:
        for calls in _recorders.get():
            calls.append(record)

    # -- one chat call -------------------------------------------------------------------------------------

    def chat(
        self, messages: Sequence[dict[str, str]], *, schema_name: str, schema: dict[str, Any], seed: int | None = None
    ) -> ChatReply:
        """One chat completion with structured output: retried, size-capped, guarded by the breaker."""
        self.breaker.before_call()
        try:
            reply = self._chat_in_forms(list(messages), schema_name, schema, seed)
        except BaseException:
            # Any failure (an unexpected one too) counts, so a half-open trial never stays in flight.
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return reply

    def _chat_in_forms(
        self, messages: list[dict[str, str]], name: str, schema: dict[str, Any], seed: int | None
    ) -> ChatReply:
        with self._forms_lock:
            index = self._forms.get(self._form_key(), 0)
        while True:
            form = FORMS[index]
            sent = structured.with_schema_in_prompt(form, messages, schema)
            payload: dict[str, Any] = {
                "model": self.config.model, "messages": sent, "temperature": self.config.temperature,
            }
            max_tokens = self._answer_budget(sent)
            if max_tokens is not None:
                payload["max_tokens"] = max_tokens
            payload.update(structured.request_fields(form, name=name, schema=schema))
            if seed is not None:
                payload["seed"] = seed
            started = time.monotonic()
            try:
                envelope = self._post_with_retries(payload)
            except _Refused as exc:
                self._record(CallRecord(name, form, "refused", None, None, None, round(time.monotonic() - started, 3)))
                if index + 1 >= len(FORMS):
                    raise LlmError(f"{exc.reason} (every structured-output form was refused: "
                                   f"{', '.join(FORMS)})") from None
                index = self._fall_back(index, exc.reason)
                continue
            reply = self._reply_of(envelope, form)
            self._record(CallRecord(name, form, "answered", reply.prompt_tokens, reply.completion_tokens,
                                    reply.finish_reason, round(time.monotonic() - started, 3)))
            return reply

    def _answer_budget(self, messages: Sequence[dict[str, str]]) -> int | None:
        """`max_tokens` for this prompt: the configured bound, cut to the room left in the context window."""
        if not self.config.max_tokens:
            return None
        prompt = estimate_tokens(messages)
        room = self.config.context_tokens - prompt
        if room < min(self.config.max_tokens, MIN_ANSWER_TOKENS):
            raise LlmError(
                f"prompt too long: about {prompt} tokens leave no room for an answer in the context window of "
                f"{self.config.context_tokens} tokens (SKILLPROOF_LLM_CONTEXT_TOKENS)"
            )
        return min(self.config.max_tokens, room)

    def _post_with_retries(self, payload: dict[str, Any]) -> Any:
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._post_once(payload)
            except _Retryable as exc:
                if attempt == attempts - 1:
                    raise LlmError(f"{exc.reason} (gave up after {attempts_text(attempts)})") from None
                self._sleep(self._delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Retry-After when the server sent one (capped); else exponential backoff with jitter."""
        base = self.config.backoff_base_seconds
        if retry_after is not None:
            return min(retry_after, self.config.retry_after_cap_seconds) + self._jitter.uniform(0, base / 10)
        backoff = min(base * 2.0**attempt, self.config.backoff_max_seconds)
        return backoff / 2 + self._jitter.uniform(0, backoff / 2)

    def _headers(self) -> dict[str, str]:
        # identity: a compressed body could expand far past the size cap in one decoded chunk.
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers

    def _post_once(self, payload: dict[str, Any]) -> Any:
        timeout = self.config.timeout_seconds
        deadline = time.monotonic() + timeout
        try:
            with self._http.stream("POST", self.url, json=payload, headers=self._headers()) as response:
                status = response.status_code
                if not 200 <= status < 300:
                    snippet = self._read_capped(response, deadline, MAX_ERROR_BODY_BYTES, truncate=True)
                    text = " ".join(snippet.decode("utf-8", "replace").split())
                    if "response_format" in payload and structured.is_refusal(status, text):
                        raise _Refused(f"HTTP {status} from the LLM endpoint: {text[:300]}")
                    if status in RETRYABLE_STATUS:
                        retry_after = parse_retry_after(
                            response.headers.get("retry-after"), lambda: dt.datetime.now(dt.UTC)
                        )
                        raise _Retryable(f"HTTP {status} from the LLM endpoint", retry_after)
                    raise LlmError(f"HTTP {status} from the LLM endpoint: {text[:300]}")
                body = self._read_capped(response, deadline, self.config.max_response_bytes)
        except httpx.TimeoutException:
            raise _Retryable(f"timeout: the LLM endpoint did not answer within {timeout:g} s") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise LlmError("invalid response: the LLM endpoint did not return JSON") from None

    def _read_capped(
        self, response: httpx.Response, deadline: float, limit: int, *, truncate: bool = False
    ) -> bytes:
        """The body, refusing (or truncating) past `limit` bytes without reading the rest."""
        declared = response.headers.get("content-length", "")
        if not truncate and declared.isdigit() and int(declared) > limit:
            raise LlmError(f"response too large: {declared} bytes announced, the limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        stream: Iterator[bytes] = response.iter_bytes()
        for chunk in stream:
            size += len(chunk)
            if size > limit:
                if truncate:
                    chunks.append(chunk[: limit - (size - len(chunk))])
                    break
                raise LlmError(f"response too large: over {limit} bytes")
            if time.monotonic() > deadline:
                raise _Retryable(f"timeout: the LLM endpoint did not finish within {self.config.timeout_seconds:g} s")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _reply_of(envelope: Any, form: Form) -> ChatReply:
        if not isinstance(envelope, dict):
            raise LlmError("invalid response: not a chat completion object")
        choices = envelope.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            error = envelope.get("error")
            detail = f": {str(error)[:200]}" if error else ""
            raise LlmError(f"invalid response: no choices in the chat completion{detail}")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise LlmError("invalid response: the first choice has no message")
        content, refusal, finish = message.get("content"), message.get("refusal"), choices[0].get("finish_reason")
        return ChatReply(
            content=content if isinstance(content, str) else None,
            finish_reason=finish if isinstance(finish, str) else None,
            refusal=refusal if isinstance(refusal, str) else None,
            form=form,
            prompt_tokens=_usage(envelope, "prompt_tokens"),
            completion_tokens=_usage(envelope, "completion_tokens"),
        )

    # -- structured output with repair ----------------------------------------------------------------------

    def complete_json(
        self,
        messages: Sequence[dict[str, str]],
        output: type[T],
        *,
        name: str,
        seed: int | None = None,
        schema: dict[str, Any] | None = None,
        check: Callable[[T], None] | None = None,
    ) -> T:
        """Ask until the answer parses into `output` (strict) and passes `check` (raises ValueError), or give up.

        A repair turn carries only the last rejected answer and its error, so the prompt stays the same size
        however many repairs there are (a small context window holds it).
        """
        schema = schema if schema is not None else structured.strict_schema(output)
        attempts = self.config.repair_attempts + 1
        repair: list[dict[str, str]] = []
        error = ""
        for _ in range(attempts):
            reply = self.chat([*messages, *repair], schema_name=name, schema=schema, seed=seed)
            try:
                if reply.content is None:
                    raise ValueError(
                        f"the model refused: {reply.refusal[:300]}" if reply.refusal else "the reply had no content"
                    )
                text = structured.extract_json_object(reply.content) if reply.form == "text" else reply.content
                value = output.model_validate_json(text, strict=True)
                if check is not None:
                    check(value)
                return value
            except ValidationError as exc:
                error = describe_validation_error(exc)
            except ValueError as exc:
                error = str(exc)
            if reply.finish_reason == "length":
                error += " (the answer was cut off at the length limit: write less)"
            repair = [
                {"role": "assistant", "content": (reply.content or "")[:MAX_ECHO_CHARS]},
                repair_message(error),
            ]
        raise LlmOutputError(f"invalid_output: no valid answer after {attempts_text(attempts)}; last error: {error}")


def repair_message(error: str) -> dict[str, str]:
    """The follow-up after an answer that did not parse or validate."""
    return {
        "role": "user",
        "content": (
            "Your answer could not be used: "
            + error
            + "\nAnswer again with the complete JSON only, exactly in the requested schema, fixing that problem."
        ),
    }


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 31-bit seed for one call, derived from the draft's seed: same seed, same requests."""
    text = "\x1f".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
