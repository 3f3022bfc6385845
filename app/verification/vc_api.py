"""The verifier in the W3C VC API shape (VCALM, w3c/vcalm oas.yaml): POST /credentials/verify, /presentations/verify.

Statuses as the spec gives them: /credentials/verify answers 200 only for a verified credential ("Verifiable
Credential successfully verified!") and 400 otherwise, the verdict in the body; /presentations/verify answers
200 whenever verification ran ("regardless of whether the presentation and/or credentials were determined to
be valid") and 400 only for input that stops it. Bodies carry both result shapes: `checks`/`warnings`/`errors`
(the VC API's original VerificationResult) and `problemDetails` (VCALM, with VC DM 2.0 §7.1 error types).
"""

from __future__ import annotations

from typing import Any, Final

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.errors import BadRequest, Unprocessable, error_responses
from app.openapi_bodies import json_request_body
from app.verification import service
from app.verification.router import (
    VerifyOptions,
    expected_holder,
    json_response,
    parse_body,
    read_body,
    verify_many_results,
)
from app.verification.verifier import Problem, VerificationResult

router = APIRouter(tags=["VC API"])

_VCDM: Final = "https://www.w3.org/TR/vc-data-model-2.0/#"
_STATUS: Final = "https://www.w3.org/TR/vc-bitstring-status-list/#"
# VC DM 2.0 §7.1 and Bitstring Status List §3.2 name these types; the rest are Skillproof's own codes.
PROBLEM_TYPES: Final = {
    "malformed": _VCDM + "PARSING_ERROR",
    "unsupported_algorithm": _VCDM + "CRYPTOGRAPHIC_SECURITY_ERROR",
    "unknown_key": _VCDM + "CRYPTOGRAPHIC_SECURITY_ERROR",
    "invalid_signature": _VCDM + "CRYPTOGRAPHIC_SECURITY_ERROR",
    "untrusted_issuer": _VCDM + "CRYPTOGRAPHIC_SECURITY_ERROR",
    "invalid_credential": _VCDM + "MALFORMED_VALUE_ERROR",
    "not_yet_valid": _VCDM + "RANGE_ERROR",
    "expired": _VCDM + "RANGE_ERROR",
    "status_unavailable": _STATUS + "STATUS_RETRIEVAL_ERROR",
}


class VcApiVerifyRequest(BaseModel):
    verifiableCredential: Any = Field(description="A credential with an embedded proof, an "
                                      "EnvelopedVerifiableCredential, or a compact vc+jwt.")
    options: VerifyOptions | None = None


class VcApiPresentationRequest(BaseModel):
    verifiablePresentation: dict[str, Any] | None = Field(
        default=None, description="A presentation holding `verifiableCredential`; its own proof is not verified."
    )
    presentation: dict[str, Any] | None = Field(default=None, description="A presentation without proof.")
    options: VerifyOptions | None = None


class ProblemDetailOut(BaseModel):
    type: str
    title: str
    detail: str


class VcApiVerifyResult(BaseModel):
    """The VC API VerificationResult of one credential (original members and VCALM's problemDetails)."""

    verified: bool
    credential: dict[str, Any] | None
    checks: list[str]
    warnings: list[str]
    errors: list[str]
    problemDetails: list[ProblemDetailOut]


class VcApiPresentationResult(BaseModel):
    verified: bool
    verifiablePresentation: dict[str, Any]
    checks: list[str]
    warnings: list[str]
    errors: list[str]
    problemDetails: list[ProblemDetailOut]
    results: dict[str, Any] = Field(description="`presentation` (empty: presentation proofs are not verified) and "
                                    "`credentials`, one VerificationResult each, in order")


def problem_detail(problem: Problem) -> dict[str, str]:
    """A ProblemDetails object (RFC 9457 members type, title, detail) for one of our problems."""
    return {"type": PROBLEM_TYPES.get(problem.code, f"urn:skillproof:problem:{problem.code}"),
            "title": problem.code, "detail": problem.message}


def vc_api_result(result: VerificationResult) -> dict[str, Any]:
    """The VC API VerificationResult of one credential."""
    return {
        "verified": result.verified,
        "credential": result.credential,
        "checks": list(result.checks),
        "warnings": [problem.code for problem in result.warnings],
        "errors": [problem.code for problem in result.errors],
        "problemDetails": [problem_detail(problem) for problem in result.errors],
    }


async def _body(request: Request) -> tuple[Any, bool]:
    raw = await read_body(request, request.app.state.settings.verify_max_body_bytes)
    try:
        return parse_body(raw)
    except Unprocessable as exc:  # the VC API answers invalid input with 400
        raise BadRequest(exc.detail, code=exc.code) from None


@router.post(
    "/credentials/verify",
    response_model=VcApiVerifyResult,
    openapi_extra=json_request_body(VcApiVerifyRequest),
    responses={**error_responses(400, 413), 400: {
        "description": "Invalid input (an ErrorBody), or the credential did not verify (a VcApiVerifyResult)",
        "content": {"application/json": {"schema": {"anyOf": [
            {"$ref": "#/components/schemas/ErrorBody"}, {"$ref": "#/components/schemas/VcApiVerifyResult"}]}}},
    }},
)
async def verify_credential(request: Request) -> Response:
    """VC API: verify a credential; 200 when verified, 400 with the same result body when not."""
    body, duplicate = await _body(request)
    if not isinstance(body, dict) or "verifiableCredential" not in body:
        raise BadRequest("The body needs a `verifiableCredential` member.", code="validation_error")
    holder = _holder(body)
    if duplicate:
        result = service.malformed("The request holds duplicate JSON keys.")
    else:
        result = await service.verify_result(request.app.state.verifier, body["verifiableCredential"], holder)
    return json_response(vc_api_result(result), 200 if result.verified else 400)


def _holder(body: dict[str, Any]) -> str | None:
    try:
        return expected_holder(body)
    except Unprocessable as exc:
        raise BadRequest(exc.detail, code=exc.code) from None


@router.post(
    "/presentations/verify",
    response_model=VcApiPresentationResult,
    openapi_extra=json_request_body(VcApiPresentationRequest),
    responses=error_responses(400, 413),
)
async def verify_presentation(request: Request) -> Response:
    """VC API: verify each credential of a presentation; 200 whatever the verdict (the spec's rule)."""
    body, duplicate = await _body(request)
    if duplicate:
        raise BadRequest("The request holds duplicate JSON keys.", code="invalid_json")
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.", code="validation_error")
    presentation = body.get("verifiablePresentation", body.get("presentation"))
    if not isinstance(presentation, dict):
        raise BadRequest("The body needs a `verifiablePresentation` (or `presentation`) object.",
                         code="validation_error")
    holder = _holder(body)
    problems: list[Problem] = []
    types = presentation.get("type")
    types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    if "VerifiablePresentation" not in types and "EnvelopedVerifiablePresentation" not in types:
        raise BadRequest("A presentation's type must include VerifiablePresentation.", code="validation_error")
    if "EnvelopedVerifiablePresentation" in types or "proof" in presentation:
        # No holder keys are registered for presentations here: a presentation proof cannot be checked, so
        # the presentation is not verified (its credentials still are, below, for the caller's information).
        problems.append(Problem("unsupported_algorithm",
                                "Presentation proofs are not verified by this service; send the presentation "
                                "without proof (its credentials carry their own proofs)."))
    raw_credentials = presentation.get("verifiableCredential", [])
    credentials = raw_credentials if isinstance(raw_credentials, list) else [raw_credentials]
    if len(credentials) > request.app.state.settings.verify_batch_max_items:
        raise BadRequest("The presentation holds too many credentials.", code="validation_error")
    results: list[VerificationResult] = []
    if credentials:
        async with request.app.state.batch_slots:
            results = await to_thread.run_sync(  # a repeated key anywhere was refused above
                lambda: list(verify_many_results(request, credentials, holder, duplicate_keys=False)))
    if not credentials:
        problems.append(Problem("malformed", "The presentation holds no verifiableCredential."))
    credential_results = [vc_api_result(result) for result in results]
    verified = not problems and all(result.verified for result in results)
    return json_response({
        "verified": verified,
        "verifiablePresentation": presentation,
        "checks": ["presentation"] if verified else [],
        "warnings": [],
        "errors": [problem.code for problem in problems]
        + sorted({error.code for result in results for error in result.errors}),
        "problemDetails": [problem_detail(problem) for problem in problems],
        "results": {"presentation": {}, "credentials": credential_results},
    })


__all__ = ["problem_detail", "router", "vc_api_result"]
