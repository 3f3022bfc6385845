"""Baked badges (OB 3.0 §5.3): round trips in PNG and SVG, a hostile corpus, and `skillproof verify` of a baked file."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

from app.credentials import baking
from app.credentials.badge_image import achievement_svg
from app.credentials.badge_png import png_of
from tests.e2e.test_server_flow import earn_credential_over_http, running_server
from tests.factories import earn_credential, verify_response
from tests.test_cli import assert_one_clean_error_line, run

VECTORS = Path(__file__).parent / "vectors"
JWS = (VECTORS / "credential.ed25519.jwt").read_text().strip()
CREDENTIAL: dict[str, Any] = json.loads((VECTORS / "credential.json").read_text())
SVG_NS = "http://www.w3.org/2000/svg"
OB_NS = "https://purl.imsglobal.org/ob/v3p0"


def badge_svg() -> str:
    return achievement_svg(skill_id="python", skill_name="Python", level="foundation", issuer_name="Skillproof")


@pytest.fixture(scope="module")
def badge_png() -> bytes:
    return png_of(badge_svg())


def chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk written independently of the code under test."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def chunks_of(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, read independently, CRCs checked."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, position = [], 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind, data = png[position + 4 : position + 8], png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + data) == crc, kind
        found.append((kind, data))
        position += 12 + length
    return found


def credential_itxt(text: bytes, *, compressed: bool = False) -> bytes:
    return chunk(b"iTXt", b"openbadgecredential\0" + (b"\1\0" if compressed else b"\0\0") + b"\0\0" + text)


def with_chunk_before_iend(png: bytes, extra: bytes) -> bytes:
    return png[:-12] + extra + png[-12:]


# --- round trips ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", [JWS, CREDENTIAL], ids=["jws", "json"])
def test_svg_round_trip_as_the_spec_writes_it(credential: str | dict[str, Any]) -> None:
    baked = baking.bake_svg(badge_svg(), credential)
    assert baking.extract(baked.encode()) == credential
    assert baking.kind_of(baked.encode()) == "svg"
    # §5.3.2.1: the namespace on <svg>, the credential element directly after the <svg> tag.
    root_tag, after = baked.split(">", 1)
    assert f'xmlns:openbadges="{OB_NS}"' in root_tag
    if isinstance(credential, str):
        assert after.startswith(f'<openbadges:credential verify="{credential}"></openbadges:credential><title>')
    else:
        assert after.startswith("<openbadges:credential><![CDATA[{")
    # The rest of the image is kept byte for byte.
    assert baked.replace(f' xmlns:openbadges="{OB_NS}"', "", 1).split("</openbadges:credential>", 1)[1] == \
        badge_svg().split(">", 1)[1]


@pytest.mark.parametrize("credential", [JWS, CREDENTIAL], ids=["jws", "json"])
def test_png_round_trip_and_still_a_valid_png(credential: str | dict[str, Any], badge_png: bytes) -> None:
    baked = baking.bake_png(badge_png, credential)
    assert baking.extract(baked) == credential
    kinds = [kind for kind, _ in chunks_of(baked)]
    assert kinds[-2:] == [b"iTXt", b"IEND"] and kinds[0] == b"IHDR"
    # §5.3.1.1: keyword openbadgecredential, compression flag and method 0, empty language tag and translated keyword.
    data = chunks_of(baked)[-2][1]
    text = json.dumps(credential, ensure_ascii=False, separators=(",", ":")) if isinstance(credential, dict) \
        else credential
    assert data == b"openbadgecredential\0\0\0\0\0" + text.encode()
    # Pillow, an independent decoder, opens it, decodes every pixel and reads the same text.
    image = Image.open(io.BytesIO(baked))
    image.load()
    assert image.size == (400, 400)
    assert isinstance(image, PngImagePlugin.PngImageFile)
    assert image.text["openbadgecredential"] == text
    unbaked = Image.open(io.BytesIO(badge_png))
    assert image.tobytes() == unbaked.tobytes()


def test_rebaking_replaces_the_credential(badge_png: bytes) -> None:
    once = baking.bake_png(badge_png, JWS)
    twice = baking.bake_png(baking.bake_png(once, CREDENTIAL), JWS)
    assert twice == once
    assert sum(kind == b"iTXt" for kind, _ in chunks_of(twice)) == 1
    svg_once = baking.bake_svg(badge_svg(), JWS)
    svg_twice = baking.bake_svg(baking.bake_svg(svg_once, CREDENTIAL), JWS)
    assert svg_twice == svg_once
    assert svg_twice.count("<openbadges:credential") == 1
    # Other text chunks are left alone.
    with_other = with_chunk_before_iend(badge_png, chunk(b"iTXt", b"Comment\0\0\0\0\0hello"))
    rebaked = baking.bake_png(baking.bake_png(with_other, CREDENTIAL), JWS)
    assert (b"iTXt", b"Comment\0\0\0\0\0hello") in chunks_of(rebaked)
    assert baking.extract(rebaked) == JWS


def test_svg_forms_other_issuers_write() -> None:
    doctype = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
               '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n<!-- a badge -->\n')
    for svg in (f'{doctype}<svg xmlns="{SVG_NS}" viewBox="0 0 512 512"><circle r="5"/></svg>',
                f'<svg:svg xmlns:svg="{SVG_NS}" data-x="a>b"/>',
                f'<svg xmlns="{SVG_NS}" xmlns:openbadges="{OB_NS}"><g/></svg>'):
        baked = baking.bake_svg(svg, JWS)
        assert baking.extract(baked.encode()) == JWS, baked
        assert baked.count(f'xmlns:openbadges="{OB_NS}"') == 1
    # The spec's own example form, a JSON credential in CDATA, indented, with "]]>" inside a value.
    tricky = {**CREDENTIAL, "name": "a ]]> b <c> & d"}
    baked = baking.bake_svg(f'<svg xmlns="{SVG_NS}"></svg>', tricky)
    assert baking.extract(baked.encode()) == tricky
    spec_example = (f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="{SVG_NS}"\n  xmlns:openbadges="{OB_NS}"\n'
                    f'  viewBox="0 0 512 512">\n  <openbadges:credential>\n    <![CDATA[\n'
                    f'{json.dumps(CREDENTIAL, indent=2)}\n    ]]>\n  </openbadges:credential>\n\n'
                    '  <!-- rest-of-image -->\n</svg>\n')
    assert baking.extract(spec_example.encode()) == CREDENTIAL
    assert baking.extract_text(spec_example.encode()).strip() == json.dumps(CREDENTIAL, indent=2)


def test_bake_refuses_what_it_cannot_bake(badge_png: bytes) -> None:
    with pytest.raises(ValueError, match="Compact JWS"):
        baking.bake_png(badge_png, "not a jws")
    with pytest.raises(baking.BakedBadgeError, match="openbadges prefix"):
        baking.bake_svg(f'<svg xmlns="{SVG_NS}" xmlns:openbadges="http://openbadges.org"/>', JWS)
    with pytest.raises(baking.BakedBadgeError, match="UTF-8"):
        baking.bake_svg(f'<?xml version="1.0" encoding="ISO-8859-1"?><svg xmlns="{SVG_NS}"/>', JWS)
    with pytest.raises(baking.BakedBadgeError):
        baking.bake_png(b"GIF89a", JWS)


def test_credentials_earned_through_the_app_verify_after_baking(client: TestClient, badge_png: bytes) -> None:
    credential = earn_credential(client)["credential"]
    for secured in (credential["jwt"], credential["ldp"]):
        for baked in (baking.bake_png(badge_png, secured), baking.bake_svg(badge_svg(), secured).encode()):
            extracted = baking.extract(baked)
            assert extracted == secured
            assert verify_response(client, extracted)["verified"] is True


# --- hostile files --------------------------------------------------------------------------------------------


def _hostile_pngs(png: bytes) -> Iterator[tuple[str, bytes, str]]:
    baked = baking.bake_png(png, JWS)
    yield "truncated in a chunk", baked[: len(baked) // 2], "truncated"
    yield "truncated before IEND", baked[:-12], "truncated"
    yield "truncated in the signature", baked[:5], "neither a PNG"
    yield "signature only", baked[:8], "truncated"
    flipped = bytearray(baked)
    flipped[40] ^= 0x01  # inside IDAT or IHDR data: its CRC no longer matches
    yield "bad CRC", bytes(flipped), "CRC"
    huge = bytearray(baked)
    huge[8:12] = b"\xff\xff\xff\xff"
    yield "chunk length over 2^31-1", bytes(huge), "length"
    big = bytearray(baked)
    big[8:12] = struct.pack(">I", 2**31 - 1)
    yield "chunk length past the end", bytes(big), "truncated"
    yield "two credential chunks", with_chunk_before_iend(baked, credential_itxt(JWS.encode())), "more than one"
    compressed = with_chunk_before_iend(png, credential_itxt(zlib.compress(JWS.encode()), compressed=True))
    yield "compressed credential", compressed, "compressed"
    bomb = with_chunk_before_iend(png, credential_itxt(zlib.compress(b"\0" * 10_000_000), compressed=True))
    yield "compressed bomb", bomb, "compressed"
    yield "data after IEND", baked + b"\0" * 16, "after its IEND"
    yield "no IHDR first", png[:8] + png[33:], "IHDR"
    yield "bad chunk type", png[:8] + png[8:12] + b"IH\0R" + png[16:], "ASCII"
    yield "not UTF-8", with_chunk_before_iend(png, credential_itxt(b"\xff\xfe")), "UTF-8"
    yield "neither JWS nor JSON", with_chunk_before_iend(png, credential_itxt(b"hello")), "neither"
    yield "JSON array", with_chunk_before_iend(png, credential_itxt(b"[1]")), "neither"
    yield "duplicate JSON keys", with_chunk_before_iend(png, credential_itxt(b'{"a":1,"a":2}')), "JSON"
    yield "iTXt without its fields", with_chunk_before_iend(png, chunk(b"iTXt", b"openbadgecredential\0\0\0")), \
        "lacks"


def _hostile_svgs() -> Iterator[tuple[str, bytes, str]]:
    laughs = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    yield "billion laughs", (f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY lol0 "lol">{laughs}]>'
                             f'<svg xmlns="{SVG_NS}"><text>&lol9;</text></svg>').encode(), "entities"
    yield "XXE", (f'<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><svg xmlns="{SVG_NS}" '
                  f'xmlns:openbadges="{OB_NS}"><openbadges:credential verify="&xxe;"/></svg>').encode(), "entities"
    yield "parameter entity", (f'<!DOCTYPE svg [<!ENTITY % remote SYSTEM "http://127.0.0.1:1/x.dtd"> %remote;]>'
                               f'<svg xmlns="{SVG_NS}"/>').encode(), "entities"
    two = f'<openbadges:credential verify="{JWS}"/>'
    yield "two credential elements", (f'<svg xmlns="{SVG_NS}" xmlns:openbadges="{OB_NS}">{two}<g>{two}</g>'
                                      "</svg>").encode(), "more than one"
    yield "non-SVG XML", f'<?xml version="1.0"?><note xmlns:openbadges="{OB_NS}">{two}</note>'.encode(), "not an SVG"
    yield "svg root in no namespace", f'<svg xmlns:openbadges="{OB_NS}">{two}</svg>'.encode(), "root"
    yield "HTML page", f"<!DOCTYPE html><html><body><pre>{JWS}</pre></body></html>".encode(), "not an SVG"
    yield "not well-formed", f'<svg xmlns="{SVG_NS}"><g></svg>'.encode(), "well-formed"
    yield "attribute and body", (f'<svg xmlns="{SVG_NS}" xmlns:openbadges="{OB_NS}"><openbadges:credential '
                                 f'verify="{JWS}">{{"a": 1}}</openbadges:credential></svg>').encode(), "both"
    yield "verify not a JWS", (f'<svg xmlns="{SVG_NS}" xmlns:openbadges="{OB_NS}"><openbadges:credential '
                               'verify="x"/></svg>').encode(), "not a Compact JWS"
    yield "elements inside", (f'<svg xmlns="{SVG_NS}" xmlns:openbadges="{OB_NS}"><openbadges:credential>'
                              "<g/></openbadges:credential></svg>").encode(), "other elements"


HOSTILE_OTHER = [
    ("random bytes", bytes(0x80 + (i * 37) % 128 for i in range(4096)), "neither a PNG nor an SVG"),
    ("empty", b"", "neither a PNG nor an SVG"),
    ("a bare JWS", JWS.encode(), "neither a PNG nor an SVG"),
    ("over the size cap", b"\x89PNG\r\n\x1a\n" + b"\0" * baking.MAX_IMAGE_BYTES, "over"),
]


def test_hostile_files_are_refused_cleanly(badge_png: bytes) -> None:
    cases = [*_hostile_pngs(badge_png), *_hostile_svgs(), *HOSTILE_OTHER]
    for name, data, words in cases:
        started = time.perf_counter()
        with pytest.raises(baking.BakedBadgeError) as caught:
            baking.extract(data)
        assert time.perf_counter() - started < 1.0, name  # refused, not expanded or inflated
        assert words in caught.value.detail, (name, caught.value.detail)
        assert caught.value.code == "invalid_baked_badge", name
        assert caught.value.status == 422


def test_hostile_pngs_cannot_be_baked_either(badge_png: bytes) -> None:
    for name, data, _ in _hostile_pngs(badge_png):
        if name in ("two credential chunks", "compressed credential", "compressed bomb", "not UTF-8",
                    "neither JWS nor JSON", "JSON array", "duplicate JSON keys", "iTXt without its fields"):
            continue  # well-formed PNGs with a bad credential: baking replaces it
        with pytest.raises(baking.BakedBadgeError):
            baking.bake_png(data, JWS)
    bad = with_chunk_before_iend(badge_png, credential_itxt(JWS.encode()))
    two = with_chunk_before_iend(bad, credential_itxt(b"{}", compressed=True))
    assert baking.extract(baking.bake_png(two, JWS)) == JWS
    for name, data, _ in _hostile_svgs():
        if name not in ("attribute and body", "verify not a JWS", "elements inside"):
            with pytest.raises(baking.BakedBadgeError):
                baking.bake_svg(data.decode(), JWS)


def test_images_without_a_credential_say_so(badge_png: bytes) -> None:
    for data in (badge_png, badge_svg().encode(),
                 f'<svg xmlns="{SVG_NS}" xmlns:openbadges="{OB_NS}"><openbadges:credential/></svg>'.encode()):
        with pytest.raises(baking.NoCredentialError) as caught:
            baking.extract(data)
        with pytest.raises(baking.NoCredentialError):
            baking.extract_text(data)
        assert caught.value.code == "no_baked_credential"
        assert "no credential is baked" in caught.value.detail


def test_kind_of_sniffs_content_not_names() -> None:
    assert baking.kind_of(b"\x89PNG\r\n\x1a\n") == "png"
    assert baking.kind_of(f"\ufeff  <?xml version='1.0'?><!-- x --><svg xmlns='{SVG_NS}'/>".encode()) == "svg"
    assert baking.kind_of(b'<!DOCTYPE svg [<!ENTITY a "b">]><svg/>') == "svg"  # then refused by the parser
    assert baking.kind_of(b"<html><svg/></html>") is None
    assert baking.kind_of(b"GIF89a") is None
    assert baking.media_type("png") == "image/png" and baking.media_type("svg") == "image/svg+xml"


# --- the CLI --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running server and one credential it issued: the server URL and the GET /v1/credentials/{id} JSON."""
    with running_server(tmp_path_factory.mktemp("bake-server")) as server:
        yield {"server": server, **earn_credential_over_http(server)}


def test_cli_verifies_baked_badges(issued: dict[str, Any], badge_png: bytes, tmp_path: Path) -> None:
    credential = issued["credential"]
    files = {
        "badge.png": baking.bake_png(badge_png, credential["jwt"]),
        "badge.svg": baking.bake_svg(badge_svg(), credential["jwt"]).encode(),
        "badge-ldp.png": baking.bake_png(badge_png, credential["ldp"]),
        "badge-ldp.svg": baking.bake_svg(badge_svg(), credential["ldp"]).encode(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        result = run("verify", str(tmp_path / name), "--url", issued["server"])
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 0 and json.loads(result.stdout)["verified"] is True, (name, result.stderr)


def test_cli_refuses_a_badge_without_a_credential_or_a_broken_one(
    issued: dict[str, Any], badge_png: bytes, tmp_path: Path,
) -> None:
    plain = tmp_path / "plain.png"
    plain.write_bytes(badge_png)
    assert_one_clean_error_line(run("verify", str(plain), "--url", issued["server"]), "no credential is baked")
    plain_svg = tmp_path / "plain.svg"
    plain_svg.write_text(badge_svg())
    assert_one_clean_error_line(run("verify", str(plain_svg), "--url", issued["server"]), "no credential is baked")
    broken = tmp_path / "broken.png"
    broken.write_bytes(baking.bake_png(badge_png, issued["credential"]["jwt"])[:-20])
    assert_one_clean_error_line(run("verify", str(broken), "--url", issued["server"]), "truncated")
    # A tampered credential baked in a well-formed badge is extracted, then fails verification with its reason.
    header, payload, signature = issued["credential"]["jwt"].split(".")
    tampered = tmp_path / "tampered.svg"
    tampered.write_text(baking.bake_svg(badge_svg(), f"{header}.{payload}.{'A' * len(signature)}"))
    result = run("verify", str(tampered), "--url", issued["server"])
    assert result.returncode == 1
    assert_one_clean_error_line(result, "NOT verified", "invalid_signature")
