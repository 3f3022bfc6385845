"""POST /v1/credentials/verify and /v1/credentials/verify-batch (request and response as in the W3C VC API)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.datastructures import State
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from app import strict_json
from app.credentials import canonical_pool
from app.errors import PayloadTooLarge, Unprocessable, error_responses
from app.openapi_bodies import json_request_body
from app.ops import metrics
from app.verification import batch, service
from app.verification.holder import InvalidExpectedHolder, parse_expected_holder, with_holder
from app.verification.verifier import VerificationResult

router = APIRouter(tags=["verification"])


class VerifyOptions(BaseModel):
    expectedHolder: str | None = Field(
        default=None,
        description="An email address (matched against the hashed `credentialSubject.identifier`) or a DID "
        "(matched against `credentialSubject.id`); adds the check `holder` or the error `holder_mismatch`.",
    )


class VerifyRequest(BaseModel):
    """Documents the body; it is parsed by hand so duplicate keys and size are checked first."""

    # Any JSON value: what is neither a JWS nor a credential object is a verdict (200, `malformed`), not a 422.
    verifiableCredential: Any = Field(
        description="A compact JWS (vc+jwt), an EnvelopedVerifiableCredential, or a credential with a proof; "
        "any other value is answered 200 with the error `malformed`."
    )
    options: VerifyOptions | None = None


class VerifyBatchRequest(BaseModel):
    """Documents the body of verify-batch; parsed by hand like VerifyRequest."""

    verifiableCredentials: list[Any] = Field(
        description="Up to 1,000 credentials, each in any form POST /v1/credentials/verify takes.", max_length=1000
    )
    options: VerifyOptions | None = None


class ProblemOut(BaseModel):
    code: str
    message: str


class VerifyResponse(BaseModel):
    verified: bool
    credential: dict[str, Any] | None
    checks: list[str]
    warnings: list[ProblemOut]
    errors: list[ProblemOut]


class VerifyBatchResponse(BaseModel):
    results: list[VerifyResponse]


async def receive_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body of an ASGI request, or 413 once it passes `limit` bytes."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise PayloadTooLarge(f"The body is over {limit // 1024} KB.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is over {limit // 1024} KB.")
        if not message.get("more_body", False):
            # join returns a lone chunk itself: a body that came in one message is not copied.
            return b"".join(chunks)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 once it passes `limit` bytes."""
    return await receive_body(request.scope, request.receive, limit)


def parse_body(raw: bytes, *, mark_duplicates: bool = False) -> tuple[Any, bool]:
    """(body, had duplicate keys): strict JSON, duplicates kept (or marked) for the verdict; 422 otherwise."""
    try:
        try:
            return strict_json.loads(raw), False
        except strict_json.DuplicateKeyError:
            if mark_duplicates:
                return strict_json.loads(raw, mark_duplicate_keys=True), True
            return strict_json.loads(raw, allow_duplicate_keys=True), True
    except strict_json.StrictJsonError as exc:
        raise Unprocessable(f"The body is not acceptable JSON: {exc}.", code="invalid_json") from None
    except strict_json.JsonSyntaxError:
        raise Unprocessable("The body is not JSON.", code="invalid_json") from None


def expected_holder(body: dict[str, Any]) -> str | None:
    """options.expectedHolder of a verify request (None when absent); 422 when options are not acceptable."""
    options = body.get("options")
    if options is None:
        return None
    if not isinstance(options, dict):
        raise Unprocessable("`options` must be an object.", code="validation_error")
    try:
        return parse_expected_holder(options.get("expectedHolder"))
    except InvalidExpectedHolder as exc:
        raise Unprocessable(str(exc), code="validation_error") from None


def json_response(content: Any, status_code: int = 200) -> Response:
    # Serialised directly (the shapes are the response models): re-validating credentials would only cost time,
    # and orjson writes a 5 KB credential in a tenth of json.dumps' time.
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


async def verify_response(state: State, raw: bytes) -> dict[str, Any]:
    """The response body of POST /v1/credentials/verify for a request body (the route and the fast path)."""
    body, duplicate = parse_body(raw)
    if not isinstance(body, dict) or "verifiableCredential" not in body:
        raise Unprocessable("The body needs a `verifiableCredential` member.", code="validation_error")
    holder = expected_holder(body)
    if duplicate:
        return service.malformed("The request holds duplicate JSON keys.").to_json()
    return (await service.verify_result(state.verifier, body["verifiableCredential"], holder)).to_response()


@router.post(
    "/v1/credentials/verify",
    response_model=VerifyResponse,
    openapi_extra=json_request_body(VerifyRequest),
    responses=error_responses(413, 422),
)
async def verify(request: Request) -> Response:
    """Verify a credential: signature against the issuer's keys, validity, status; 200 whatever the verdict."""
    # Served by app.verification.fast_path ahead of routing; this route answers the same way when reached.
    raw = await read_body(request, request.app.state.settings.verify_max_body_bytes)
    return json_response(await verify_response(request.app.state, raw))


def verify_many_results(
    request: Request, credentials: list[Any], holder: str | None, *, duplicate_keys: bool = True
) -> Iterator[VerificationResult]:
    """The verdict on each credential, in order, with the holder check (status read per list and chunk).
    `duplicate_keys`: whether the request repeated a JSON key anywhere (else no credential is searched for one)."""
    state = request.app.state
    verifier: service.Verifier = state.verifier

    def skip(position: int) -> VerificationResult | None:
        # Duplicate keys inside one credential object are a verdict on that credential, as in single verify.
        if duplicate_keys and strict_json.has_duplicate_keys(credentials[position]):
            return service.malformed("The credential holds duplicate JSON keys.")
        return None

    outcomes: Counter[str] = Counter()
    try:
        for result in batch.verify_many(
            credentials, resolve_key=verifier.resolve_key, status=state.batch_status, now=verifier.clock(),
            skip=skip, data_integrity_hasher=canonical_pool.hash_data,
        ):
            result = with_holder(result, holder)
            outcomes[metrics.verification_outcome(result.verified, result.errors)] += 1
            yield result
    finally:
        metrics.record_verifications(outcomes)  # one counter update per outcome, not one per credential


def verify_many_json(
    request: Request, credentials: list[Any], holder: str | None, *, duplicate_keys: bool = True
) -> list[orjson.Fragment]:
    """The verify response of each credential, in order, each serialised as it comes so that its decoded
    credential can go at once (batch.CHUNK)."""
    return [orjson.Fragment(orjson.dumps(result.to_response()))
            for result in verify_many_results(request, credentials, holder, duplicate_keys=duplicate_keys)]


@router.post(
    "/v1/credentials/verify-batch",
    response_model=VerifyBatchResponse,
    openapi_extra=json_request_body(VerifyBatchRequest),
    responses=error_responses(413, 422),
)
async def verify_batch(request: Request) -> Response:
    """Verify up to 1,000 credentials: one verify response each, in order; 200 whatever the verdicts."""
    settings = request.app.state.settings
    # The body is read before a slot is taken: a client trickling its body (up to the 30 s body timeout) must not
    # hold one of the few slots while every other batch waits.
    raw = await read_body(request, settings.verify_batch_max_body_bytes)
    async with request.app.state.batch_slots:
        return await _verify_batch_body(request, raw)


async def _verify_batch_body(request: Request, raw: bytes) -> Response:
    settings = request.app.state.settings
    parse: Callable[[], tuple[Any, bool]] = lambda: parse_body(raw, mark_duplicates=True)  # noqa: E731
    body, duplicate = parse() if len(raw) <= 64 * 1024 else await to_thread.run_sync(parse)
    if not isinstance(body, dict) or not isinstance(body.get("verifiableCredentials"), list):
        raise Unprocessable("The body needs a `verifiableCredentials` array.", code="validation_error")
    credentials: list[Any] = body["verifiableCredentials"]
    if len(credentials) > settings.verify_batch_max_items:
        raise Unprocessable(
            f"At most {settings.verify_batch_max_items} credentials per batch; {len(credentials)} were sent.",
            code="validation_error",
        )
    if duplicate and any(
        isinstance(value, strict_json.DuplicateKeysDict) or (key == "options" and strict_json.has_duplicate_keys(value))
        for key, value in [("", body), *body.items()]
    ):
        # Outside the credentials a repeated key leaves the request itself ambiguous (which array, which options).
        raise Unprocessable("The request repeats a JSON key outside its credentials.", code="invalid_json")
    holder = expected_holder(body)
    results = await to_thread.run_sync(
        lambda: verify_many_json(request, credentials, holder, duplicate_keys=duplicate))
    return json_response({"results": results})
