"""Sharing a credential (the learner) and its public page at /c/{share_id} (anyone), with its downloads."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from app.credentials import baking
from app.credentials import service as credentials_service
from app.deps import AuditDep, ClockDep, CurrentLearner, SessionDep, SettingsDep
from app.errors import error_responses
from app.pages import render, service, view
from app.pages.models import CredentialShare
from app.pages.schemas import ShareOut, ShareRequest

router = APIRouter(tags=["sharing"])

_HTML = "text/html"


def _share_out(row: CredentialShare, base_url: str) -> ShareOut:
    return ShareOut(
        share_id=row.id, url=service.share_url(base_url, row.id), show_score=row.show_score,
        show_name=row.show_name, indexable=row.indexable, created_at=row.created_at, updated_at=row.updated_at,
    )


@router.post(
    "/v1/credentials/{credential_id}/share",
    status_code=201,
    response_model=ShareOut,
    responses={
        200: {"model": ShareOut, "description": "Already shared: the same share, now with these options"},
        **error_responses(401, 403, 404, 422),
    },
)
def share_credential(
    credential_id: str, principal: CurrentLearner, session: SessionDep, settings: SettingsDep, now: ClockDep,
    audit: AuditDep, response: Response, body: ShareRequest | None = None,
) -> ShareOut:
    """Make a credential public at /c/{share_id} (its learner only): 201 for a new share; 200 when it is
    already shared, with the same share id and the options given now. A revoked credential can be shared:
    its page says revoked."""
    record = credentials_service.get_visible(session, credential_id, principal)
    options = body or ShareRequest()
    row, created = service.share(
        session, record,
        service.ShareOptions(show_score=options.show_score, show_name=options.show_name, indexable=options.indexable),
        now,
    )
    audit.record("credential.share" if created else "credential.share_update", "credential", record.id, details={
        "share_id": row.id, "show_score": row.show_score, "show_name": row.show_name, "indexable": row.indexable,
    })
    if not created:
        response.status_code = 200
    response.headers["Location"] = service.share_url(settings.base_url, row.id)
    return _share_out(row, settings.base_url)


@router.delete(
    "/v1/credentials/{credential_id}/share", status_code=204, response_class=Response,
    responses=error_responses(401, 403, 404),
)
def unshare_credential(
    credential_id: str, principal: CurrentLearner, session: SessionDep, now: ClockDep, audit: AuditDep
) -> Response:
    """Take the page down at once: it answers 410 Gone from now on (404 `not_shared` if there is none)."""
    record = credentials_service.get_visible(session, credential_id, principal)
    row = service.take_down(session, record, now)
    audit.record("credential.unshare", "credential", record.id, details={"share_id": row.id})
    return Response(status_code=204)


_PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such share (an HTML page)", "content": {_HTML: {"schema": {"type": "string"}}}},
    410: {"description": "The learner took this page down (an HTML page)",
          "content": {_HTML: {"schema": {"type": "string"}}}},
}


def _message(status: int, heading: str, message: str, hint: str, site_name: str) -> HTMLResponse:
    html = render.render("message.html", heading=heading, message=message, hint=hint, site_name=site_name,
                         indexable=False)
    return HTMLResponse(html, status_code=status, headers=render.page_headers())


@router.get(
    "/c/{share_id}",
    response_class=HTMLResponse,
    responses={200: {"description": "The share page", "content": {_HTML: {"schema": {"type": "string"}}}},
               **_PAGE_ERRORS},
)
def share_page(
    share_id: str, request: Request, session: SessionDep, settings: SettingsDep, now: ClockDep
) -> HTMLResponse:
    """The public page of a shared credential: what it certifies, its live status, and how to check it."""
    try:
        row, record = service.shared(session, share_id)
    except service.ShareGone:
        return _message(410, "This page was taken down",
                        "The person who shared this credential has taken the page down.",
                        "If you need to check their credential, ask them for a new link or for the credential "
                        "itself.", settings.issuer_name)
    except service.ShareNotFound:
        return _message(404, "No such page", "There is no shared credential at this address.",
                        "Check that the link was copied completely.", settings.issuer_name)
    page = service.page(session, row, record, base_url=settings.base_url, verifier=request.app.state.verifier,
                        now=now)
    achievement = f"{page.skill_name} ({page.level})" if page.level else page.skill_name
    holder = page.holder_name or "The holder"
    description = f"{holder} holds the {achievement} credential issued by {page.issuer_name}. Status: " \
                  f"{page.status.label.lower()}."
    html = render.render(
        "share.html", page=page, site_name=settings.issuer_name, indexable=row.indexable,
        description=description, badge_alt=f"Badge: {page.skill_name}, {page.level} level, issued by "
                                           f"{page.issuer_name}",
        qr_svg=Markup(page.qr_svg),  # noqa: S704 (segno's SVG of our own URL)
        duration=view.duration_text, jwks_url=f"{settings.base_url}/.well-known/jwks.json",
        did_url=_did_document_url(settings.base_url),
        curl_command=(
            f"curl -s -X POST {settings.base_url}/v1/credentials/verify -H 'content-type: application/json' "
            f"-d \"{{\\\"verifiableCredential\\\": \\\"$(curl -s {page.downloads['jwt']})\\\"}}\""
        ),
        cli_command=f"skillproof verify {page.downloads['jwt']} --url {settings.base_url}",
    )
    return HTMLResponse(html, headers=render.page_headers(indexable=row.indexable))


def _did_document_url(base_url: str) -> str:
    """Where did:web puts the issuer's DID document: /.well-known/did.json, or /<path>/did.json under a path."""
    return f"{base_url}/did.json" if base_url.count("/") > 2 else f"{base_url}/.well-known/did.json"


def _download_headers(filename: str) -> dict[str, str]:
    return {
        "Cache-Control": render.PAGE_CACHE_CONTROL,  # a take-down applies to the downloads at once too
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Robots-Tag": "noindex",
    }


def _filename(record_document: dict[str, Any], extension: str) -> str:
    skill_id, _, level = view.skill_and_level(record_document)
    stem = "-".join(part for part in ("credential", skill_id, level) if part)
    return "".join(char if char.isalnum() or char in "-_" else "-" for char in stem) + extension


@router.get(
    "/c/{share_id}/credential.jwt",
    response_class=Response,
    responses={200: {"description": "The credential as a compact JWS", "content": {"application/vc+jwt": {}}},
               **error_responses(404, 410)},
)
def share_jwt(share_id: str, session: SessionDep) -> Response:
    """The shared credential as `vc+jwt` (VC-JOSE-COSE), as the issuer signed it."""
    _, record = service.shared(session, share_id)
    if not record.jwt:
        raise service.ShareNotFound("This credential has no vc+jwt form.")
    return Response(record.jwt, media_type="application/vc+jwt", headers=_download_headers(
        _filename(record.document, ".jwt")))


@router.get(
    "/c/{share_id}/credential.json",
    response_class=Response,
    responses={200: {"description": "The credential with its embedded DataIntegrityProof",
                     "content": {"application/vc": {}}},
               **error_responses(404, 410)},
)
def share_json(share_id: str, session: SessionDep) -> Response:
    """The shared credential with its Data Integrity proof (`eddsa-rdfc-2022`), as `application/vc` (VC DM 2.0)."""
    _, record = service.shared(session, share_id)
    if record.ldp is None:
        raise service.ShareNotFound("This credential was issued before Data Integrity proofs: use credential.jwt.")
    return Response(orjson.dumps(record.ldp), media_type="application/vc", headers=_download_headers(
        _filename(record.document, ".json")))


_BADGE_RESPONSES: dict[int | str, dict[str, Any]] = {**error_responses(404, 410, 503)}


def _badge(share_id: str, kind: Literal["svg", "png"], session: SessionDep) -> Response:
    _, record = service.shared(session, share_id)
    filename = _filename(record.document, f".{kind}")
    headers = {**_download_headers(filename),
               # Shown inline (link previews, <img>); an SVG may style itself but never run script.
               "Content-Disposition": f'inline; filename="{filename}"',
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"}
    return Response(service.baked_badge(record, kind), media_type=baking.media_type(kind), headers=headers)


@router.get(
    "/c/{share_id}/badge.svg",
    response_class=Response,
    responses={200: {"description": "The SVG badge with the credential baked in (Open Badges 3.0 §5.3.2)",
                     "content": {"image/svg+xml": {}}}, **_BADGE_RESPONSES},
)
def share_badge_svg(share_id: str, session: SessionDep) -> Response:
    """The badge to post or keep, as SVG, its vc+jwt baked in: any OB 3.0 verifier reads it back."""
    return _badge(share_id, "svg", session)


@router.get(
    "/c/{share_id}/badge.png",
    response_class=Response,
    responses={200: {"description": "The PNG badge with the credential baked in (Open Badges 3.0 §5.3.1)",
                     "content": {"image/png": {}}}, **_BADGE_RESPONSES},
)
def share_badge_png(share_id: str, session: SessionDep) -> Response:
    """The badge to post or keep, as PNG (an iTXt `openbadgecredential` chunk holds the vc+jwt)."""
    return _badge(share_id, "png", session)
