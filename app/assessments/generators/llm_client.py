"""An OpenAI-compatible chat-completions client with JSON-schema structured output.

It POSTs `{base_url}/chat/completions`, retries 408/429/5xx, timeouts and connection errors (exponential
backoff with jitter, `Retry-After` honoured and capped), caps the response size while streaming, and trips a
circuit breaker after consecutive failures. Output that does not parse or validate is sent back to the model
with the error, up to `repair_attempts` times. The generator (llm.py) and the solver check (solver.py) use it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from app.assessments.generators import prompts

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
MAX_ECHO_CHARS = 8000  # how much of a rejected answer is sent back with the repair prompt
MAX_ERROR_BODY_BYTES = 2000

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

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> LlmConfig:
        """From SKILLPROOF_LLM_BASE_URL, _API_KEY, _MODEL and the optional _TIMEOUT_SECONDS, _TEMPERATURE,
        _SOLVER_RUNS and _SOLVER_AGREEMENT."""
        base_url = getattr(settings, "llm_base_url", None)
        model = getattr(settings, "llm_model", None)
        if not base_url or not model:
            raise ValueError("the LLM generator needs SKILLPROOF_LLM_BASE_URL and SKILLPROOF_LLM_MODEL")
        tuned = {
            name: getattr(settings, f"llm_{name}")
            for name in ("timeout_seconds", "temperature", "solver_runs", "solver_agreement")
            if getattr(settings, f"llm_{name}", None) is not None
        }
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


T = TypeVar("T", bound=BaseModel)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with $refs inlined (llama.cpp/Ollama grammars and OpenAI strict mode accept it)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                return inline(definitions[name])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


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


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


def public_base_url(url: str) -> str:
    """The base URL without credentials, query or fragment: safe to record in provenance."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _parse_retry_after(value: str | None, now: Callable[[], dt.datetime]) -> float | None:
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

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one chat call -------------------------------------------------------------------------------------

    def chat(
        self, messages: Sequence[dict[str, str]], *, schema_name: str, schema: dict[str, Any], seed: int | None = None
    ) -> ChatReply:
        """One chat completion with structured output: retried, size-capped, guarded by the breaker."""
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": list(messages),
            "temperature": self.config.temperature,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": schema_name, "strict": True, "schema": schema},
            },
        }
        if seed is not None:
            payload["seed"] = seed
        self.breaker.before_call()
        try:
            envelope = self._post_with_retries(payload)
            reply = self._reply_of(envelope)
        except BaseException:
            # Any failure (an unexpected one too) counts, so a half-open trial never stays in flight.
            self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return reply

    def _post_with_retries(self, payload: dict[str, Any]) -> Any:
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._post_once(payload)
            except _Retryable as exc:
                if attempt == attempts - 1:
                    raise LlmError(f"{exc.reason} (gave up after {_attempts(attempts)})") from None
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
                if status in RETRYABLE_STATUS:
                    retry_after = _parse_retry_after(
                        response.headers.get("retry-after"), lambda: dt.datetime.now(dt.UTC)
                    )
                    raise _Retryable(f"HTTP {status} from the LLM endpoint", retry_after)
                if not 200 <= status < 300:
                    snippet = self._read_capped(response, deadline, MAX_ERROR_BODY_BYTES, truncate=True)
                    text = " ".join(snippet.decode("utf-8", "replace").split())[:300]
                    raise LlmError(f"HTTP {status} from the LLM endpoint: {text}")
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
    def _reply_of(envelope: Any) -> ChatReply:
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
        """Ask until the answer parses into `output` (strict) and passes `check` (raises ValueError), or give up."""
        schema = schema if schema is not None else strict_schema(output)
        conversation = list(messages)
        attempts = self.config.repair_attempts + 1
        error = ""
        for _ in range(attempts):
            reply = self.chat(conversation, schema_name=name, schema=schema, seed=seed)
            try:
                if reply.content is None:
                    raise ValueError(
                        f"the model refused: {reply.refusal[:300]}" if reply.refusal else "the reply had no content"
                    )
                value = output.model_validate_json(reply.content, strict=True)
                if check is not None:
                    check(value)
                return value
            except ValidationError as exc:
                error = describe_validation_error(exc)
            except ValueError as exc:
                error = str(exc)
            if reply.finish_reason == "length":
                error += " (the answer was cut off at the length limit: write less)"
            conversation += [
                {"role": "assistant", "content": (reply.content or "")[:MAX_ECHO_CHARS]},
                prompts.repair_message(error),
            ]
        raise LlmOutputError(f"invalid_output: no valid answer after {_attempts(attempts)}; last error: {error}")


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 31-bit seed for one call, derived from the draft's seed: same seed, same requests."""
    text = "\x1f".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
