"""The human verify page: GET /verify (the form) and POST /verify (the verdict, each check in plain words).

An HR person pastes a compact JWS, a credential's JSON or a share-page link of this service, or uploads a
baked badge (PNG or SVG), and may type the email (or DID) of the person who gave it to them. No JavaScript:
a plain HTML form post (multipart/form-data). The verdict is the one POST /v1/credentials/verify gives
(the same verifier, the same holder check, the same rate-limit group); bad input is answered on the same page
with 400, 404, 410, 413 or 422, never a 500. A share link is resolved by its share id in our database; no
URL is ever fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import strict_json
from app.auth.models import Learner
from app.config import Settings
from app.credentials import baking, jose
from app.credentials.models import Credential
from app.deps import SessionDep
from app.errors import PayloadTooLarge
from app.pages import render, service, verify_view
from app.pages.models import CredentialShare
from app.verification import trusted
from app.verification.holder import InvalidExpectedHolder, parse_expected_holder
from app.verification.service import Verifier, verify_result

router = APIRouter(tags=["pages"])

PATH: Final = "/verify"
_HTML: Final = "text/html"
# Form overhead beyond the image and the pasted text: boundaries, part headers, the holder field.
_FORM_OVERHEAD: Final = 64 * 1024
_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")
_SHARE_PATH: Final = re.compile(r"/c/([^/]+)(?:/(?:credential\.jwt|credential\.json|badge\.svg|badge\.png)?)?")
# A result is about one credential, checked now: never stored by any cache.
RESULT_CACHE_CONTROL: Final = "no-store"


def body_limit(settings: Settings) -> int:
    """The largest POST /verify body: a baked image at the baking module's cap, or the pasted text, plus the form."""
    return baking.MAX_IMAGE_BYTES + settings.verify_max_body_bytes + _FORM_OVERHEAD


class BadInput(Exception):
    """Input the page answers with a message (never a verdict): `field` is the form field it is about."""

    def __init__(self, status: int, message: str, field: str = "credential"):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


@dataclass
class FormValues:
    """What the person typed, shown back in the form."""

    credential: str = ""
    holder: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _headers(*, result: bool) -> dict[str, str]:
    headers = render.page_headers(indexable=not result, csp=render.VERIFY_PAGE_CSP)
    if result:
        headers["Cache-Control"] = RESULT_CACHE_CONTROL
    return headers


def _page(settings: Settings, values: FormValues, *, status: int = 200, result: verify_view.VerifyAnswer | None = None,
          answered: bool = True) -> HTMLResponse:
    html = render.render(
        "verify.html", site_name=settings.issuer_name, indexable=not answered, values=values, result=result,
        limits={"text_kb": settings.verify_max_body_bytes // 1024, "image_mb": baking.MAX_IMAGE_BYTES // (1024 * 1024)},
        base_url=settings.base_url,
    )
    return HTMLResponse(html, status_code=status, headers=_headers(result=answered))


_HTML_PAGE = {"content": {_HTML: {"schema": {"type": "string"}}}}
_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "credential": {"type": "string", "description": "A compact JWS (vc+jwt), a credential's JSON with its "
                       "Data Integrity proof, or a share-page link of this service (`{base_url}/c/{share_id}`)."},
        "badge": {"type": "string", "format": "binary",
                  "description": "A baked badge image (PNG or SVG, Open Badges 3.0 §5.3), at most 8 MB."},
        "holder": {"type": "string", "description": "Optional: the email address or DID of the person who gave you "
                   "the credential, checked as `expectedHolder`."},
    },
}


@router.get(
    PATH,
    response_class=HTMLResponse,
    responses={200: {"description": "The verify page: a form to paste or upload a credential", **_HTML_PAGE}},
)
async def verify_form(request: Request) -> HTMLResponse:
    """The human verify page (HTML, no JavaScript): paste a JWS, JSON or share link, or upload a baked badge."""
    return _page(request.app.state.settings, FormValues(), answered=False)


@router.post(
    PATH,
    response_class=HTMLResponse,
    openapi_extra={"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": _FORM_SCHEMA, "encoding": {"badge": {"contentType": "image/png, "
                                                                             "image/svg+xml"}}},
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "properties": {k: v for k, v in _FORM_SCHEMA["properties"].items() if k != "badge"}}},
    }}},
    responses={
        200: {"description": "The verdict, each check explained (whatever the verdict)", **_HTML_PAGE},
        400: {"description": "Nothing to check, or a form that cannot be read (the page, with a message)",
              **_HTML_PAGE},
        404: {"description": "A share link of this service whose page does not exist", **_HTML_PAGE},
        410: {"description": "A share link whose page the learner took down", **_HTML_PAGE},
        413: {"description": "Pasted text or an image over its size limit", **_HTML_PAGE},
        422: {"description": "Not a credential, not a badge, a badge without a credential, another site's link, or "
                             "a holder that is neither an email address nor a DID", **_HTML_PAGE},
    },
)
async def verify_submit(request: Request, session: SessionDep) -> HTMLResponse:
    """Verify what the form holds and answer with the verdict and each check in plain words."""
    settings: Settings = request.app.state.settings
    values = FormValues()
    try:
        credential, holder, source, learner_name = await _read(request, session, settings, values)
    except BadInput as exc:
        values.errors[exc.field] = exc.message
        return _page(settings, values, status=exc.status)
    verifier: Verifier = request.app.state.verifier
    result = await verify_result(verifier, credential, holder)
    own = frozenset(getattr(verifier.resolve_key, "trusted", frozenset({settings.issuer_did})))
    answer = verify_view.answer(
        result, claims=_claims(credential), own_dids=own, trusted_dids=trusted.parse_trusted_issuers(
            settings.trusted_issuers), holder=holder, now=verifier.clock(), source=source, learner_name=learner_name,
    )
    return _page(settings, values, result=answer)


async def _read(
    request: Request, session: Session, settings: Settings, values: FormValues
) -> tuple[object, str | None, str, str | None]:
    """(credential, expected holder, what it came from, learner name from a share) or BadInput."""
    limit = body_limit(settings)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BadInput(413, f"That is too much to check at once: a badge image may be at most "
                            f"{baking.MAX_IMAGE_BYTES // (1024 * 1024)} MB.", "badge")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise BadInput(400, "Send the form on this page (a form post), not another kind of request.")
    try:
        form = await request.form(max_files=1, max_fields=8, max_part_size=limit)
    except PayloadTooLarge:
        raise BadInput(413, f"That is too much to check at once: a badge image may be at most "
                            f"{baking.MAX_IMAGE_BYTES // (1024 * 1024)} MB.", "badge") from None
    except StarletteHTTPException:  # a multipart body that cannot be parsed
        raise BadInput(400, "The form could not be read. Please fill it in again and resend it.") from None
    try:
        text = form.get("credential")
        holder_text = form.get("holder")
        upload = form.get("badge")
        values.credential = text if isinstance(text, str) else ""
        values.holder = holder_text.strip() if isinstance(holder_text, str) else ""
        holder = _holder(values.holder)
        image = await _image(upload, settings)
        pasted = values.credential.strip()
        if image is not None and pasted:
            raise BadInput(400, "Give one credential at a time: paste it or upload a badge, not both.")
        if image is not None:
            credential, kind = image
            return credential, holder, f"the uploaded {kind.upper()} badge", None
        if not pasted:
            raise BadInput(400, "There is nothing to check yet: paste a credential or its link, or choose a badge "
                                "image.")
        if len(pasted.encode("utf-8")) > settings.verify_max_body_bytes:
            raise BadInput(413, f"The pasted text is over {settings.verify_max_body_bytes // 1024} KB; a "
                                "credential is a few KB. Check that only the credential was pasted.")
        credential, source, learner_name = await _pasted(pasted, session, settings)
        return credential, holder, source, learner_name
    finally:
        await form.close()


def _holder(text: str) -> str | None:
    if not text:
        return None
    try:
        return parse_expected_holder(text)
    except InvalidExpectedHolder:
        raise BadInput(422, "Type an email address (name@example.com) or a DID (did:method:identifier), or leave "
                            "this field empty.", "holder") from None


async def _image(upload: object, settings: Settings) -> tuple[object, str] | None:
    """The credential baked in an uploaded badge, and its kind; None when no file was chosen."""
    if not isinstance(upload, UploadFile):
        return None
    data = await upload.read(baking.MAX_IMAGE_BYTES + 1)
    if not data and not upload.filename:
        return None  # the file input left empty
    if len(data) > baking.MAX_IMAGE_BYTES:
        raise BadInput(413, f"The image is over {baking.MAX_IMAGE_BYTES // (1024 * 1024)} MB; a badge is far "
                            "smaller.", "badge")
    if not data:
        raise BadInput(422, "The chosen file is empty.", "badge")
    kind = baking.kind_of(data)
    if kind is None:
        raise BadInput(422, "This file is not a badge image: upload the PNG or SVG badge with the credential baked "
                            "in.", "badge")
    try:
        credential = await to_thread.run_sync(baking.extract, data)
    except baking.NoCredentialError:
        raise BadInput(422, f"This {kind.upper()} image has no credential baked in. Ask for the baked badge (the "
                            "download on the credential's share page), or for the credential itself.",
                       "badge") from None
    except baking.BakedBadgeError as exc:
        raise BadInput(422, f"This {kind.upper()} badge cannot be read: {exc.detail}", "badge") from None
    return credential, kind


async def _pasted(text: str, session: Session, settings: Settings) -> tuple[object, str, str | None]:
    """(credential, source, learner name) from the pasted text: a share link, JSON, or a compact JWS."""
    if text.lower().startswith(("http://", "https://")):
        return await _share_link(text, session, settings)
    if text.startswith("{"):
        return _json_credential(text), "the pasted JSON", None
    token = "".join(text.split())  # a JWS wrapped over several lines by an email client
    if _COMPACT_JWS.fullmatch(token):
        return token, "the pasted signed JWT", None
    raise BadInput(422, "This is not a credential we recognise. Paste the signed credential (a long text of three "
                        "parts separated by dots), its JSON, or the link to its share page.")


def _json_credential(text: str) -> object:
    try:
        value = strict_json.loads(text.encode("utf-8"))
    except strict_json.DuplicateKeyError:
        raise BadInput(422, "This JSON repeats a key, so it is ambiguous: it cannot be a credential we check.") \
            from None
    except (strict_json.StrictJsonError, strict_json.JsonSyntaxError, ValueError):
        raise BadInput(422, "This looks like JSON but is not valid JSON: check that all of it was pasted.") from None
    if isinstance(value, dict):
        if "verifiableCredential" in value:  # a POST /v1/credentials/verify body
            return value["verifiableCredential"]
        if isinstance(value.get("jwt"), str) and isinstance(value.get("credential"), dict):  # GET /v1/credentials
            return value["jwt"]
        if "proof" in value or "EnvelopedVerifiableCredential" in str(value.get("type")):
            return value
    raise BadInput(422, "This JSON is not a credential with a proof. Paste the credential's JSON with its "
                        "Data Integrity proof (the download on its share page), or the signed JWT.")


async def _share_link(text: str, session: Session, settings: Settings) -> tuple[object, str, str | None]:
    """The credential of one of our share pages, found by its share id (the URL itself is never fetched)."""
    try:
        parts = urlsplit(text)
        ours = urlsplit(settings.base_url)
        same_site = (parts.scheme.lower(), parts.hostname, parts.port) == (
            ours.scheme.lower(), ours.hostname, ours.port)
    except ValueError:
        same_site = False
        parts = None
    base_path = urlsplit(settings.base_url).path.rstrip("/")
    path = parts.path if parts is not None else ""
    match = _SHARE_PATH.fullmatch(path[len(base_path):]) if same_site and path.startswith(base_path) else None
    if not same_site:
        raise BadInput(422, f"We only open links to share pages of this service ({settings.base_url}/c/…). For a "
                            "credential from elsewhere, download it and paste the credential itself, or upload its "
                            "badge.")
    if match is None:
        raise BadInput(422, f"This link is not a credential's share page; those look like {settings.base_url}/c/….")
    share_id = match.group(1)
    try:
        row, record = await to_thread.run_sync(service.shared, session, share_id)
        name = await to_thread.run_sync(_learner_name, session, row, record)
    except service.ShareGone:
        raise BadInput(410, "The person who shared this credential has taken its page down. Ask them for a new "
                            "link or for the credential itself.") from None
    except service.ShareNotFound:
        raise BadInput(404, "There is no shared credential at this link. Check that the whole link was "
                            "copied.") from None
    credential = record.jwt or record.ldp
    if credential is None:
        raise BadInput(404, "This shared credential has no signed form to check.")
    return credential, f"the share page {service.share_url(settings.base_url, row.id)}", name


def _learner_name(session: Session, row: CredentialShare, record: Credential) -> str | None:
    """The learner's name when they chose to show it on their share page (the credential holds no name)."""
    if not row.show_name:
        return None
    learner = session.get(Learner, record.learner_id)
    return learner.name if learner is not None else None


def _claims(credential: object) -> dict[str, Any] | None:
    """What a credential claims about itself before any check (to name the issuer of one that fails)."""
    if isinstance(credential, dict):
        return credential
    if isinstance(credential, str):
        try:
            payload: dict[str, Any] = jose.parse_compact(credential).payload
        except jose.JoseError:  # unreadable: it claims nothing
            return None
        return payload
    return None
