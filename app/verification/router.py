"""POST /v1/credentials/verify (request and response shaped as in the W3C VC API)."""

from __future__ import annotations

import json
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app import strict_json
from app.errors import PayloadTooLarge, Unprocessable, error_responses
from app.verification import service

router = APIRouter(tags=["verification"])


class VerifyRequest(BaseModel):
    """Documents the body; it is parsed by hand so duplicate keys and size are checked first."""

    # Any JSON value: what is neither a JWS nor a credential object is a verdict (200, `malformed`), not a 422.
    verifiableCredential: Any = Field(
        description="A compact JWS (vc+jwt), an EnvelopedVerifiableCredential, or a credential with a proof; "
        "any other value is answered 200 with the error `malformed`."
    )
    options: dict[str, Any] | None = None


class ProblemOut(BaseModel):
    code: str
    message: str


class VerifyResponse(BaseModel):
    verified: bool
    credential: dict[str, Any] | None
    checks: list[str]
    warnings: list[ProblemOut]
    errors: list[ProblemOut]


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is over {limit // 1024} KB.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise PayloadTooLarge(f"The body is over {limit // 1024} KB.")
    return bytes(body)


@router.post(
    "/v1/credentials/verify",
    response_model=VerifyResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            # Inline: the route reads the body by hand, so FastAPI never adds VerifyRequest to the components.
            "content": {"application/json": {"schema": VerifyRequest.model_json_schema()}},
        }
    },
    responses=error_responses(413, 422),
)
async def verify(request: Request) -> Response:
    """Verify a credential: signature against the issuer's keys, validity, status; 200 whatever the verdict."""
    app_state = request.app.state
    raw = await _read_body(request, app_state.settings.verify_max_body_bytes)
    duplicate = False
    try:
        try:
            body = strict_json.loads(raw)
        except strict_json.DuplicateKeyError:
            duplicate = True
            body = strict_json.loads(raw, allow_duplicate_keys=True)
    except strict_json.StrictJsonError as exc:
        raise Unprocessable(f"The body is not acceptable JSON: {exc}.", code="invalid_json") from None
    except strict_json.JsonSyntaxError:
        raise Unprocessable("The body is not JSON.", code="invalid_json") from None
    if not isinstance(body, dict) or "verifiableCredential" not in body:
        raise Unprocessable("The body needs a `verifiableCredential` member.", code="validation_error")
    if body.get("options") is not None and not isinstance(body["options"], dict):
        raise Unprocessable("`options` must be an object.", code="validation_error")
    if duplicate:
        result = service.malformed("The request holds duplicate JSON keys.")
    else:
        # In a worker thread: the status lookup reads the database, and the event loop must stay free.
        result = await to_thread.run_sync(app_state.verifier.verify, body["verifiableCredential"])
    # Serialised directly (the shape is VerifyResponse); re-validating the credential would only cost time.
    return Response(json.dumps(result.to_json(), separators=(",", ":")), media_type="application/json")
