"""Pure: bake a credential into a PNG or SVG badge image and extract it, as Open Badges 3.0 §5.3 specifies.

OB 3.0 §5.3 "Baked Badge" (1EdTech Open Badges Specification v3.0, "Document Formats"):
- §5.3.1.1 PNG baking: an `iTXt` chunk with keyword `openbadgecredential` whose text is the Compact JWS (VC-JWT)
  or the credential's JSON (embedded proof); "Compression MUST NOT be used"; such a chunk "MUST NOT appear in a
  PNG more than once" (re-baking here replaces it, which the spec allows).
- §5.3.2.1 SVG baking: `xmlns:openbadges="https://purl.imsglobal.org/ob/v3p0"` on the `<svg>` tag and, directly
  after it, `<openbadges:credential verify="<Compact JWS>"></openbadges:credential>`; for an embedded proof no
  `verify` attribute and the JSON in the body, wrapped in CDATA. "There MUST be only one" such tag.
- §5.3.1.2 / §5.3.2.2 extracting: the first such chunk or tag. Images come from anyone, so extraction here is
  stricter: the whole PNG is checked (signature, chunk lengths, CRCs, IHDR first, IEND last) and a second
  credential chunk or tag is refused rather than ignored; SVG is parsed by defusedxml (no entity declarations,
  no external references, so no expansion ever happens) within size caps. Nothing is decompressed.
No I/O and no clock: bytes and text in, bytes and text out.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from typing import Any, Final, Literal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from app import strict_json
from app.errors import Unprocessable

OB3_NAMESPACE: Final = "https://purl.imsglobal.org/ob/v3p0"
SVG_NAMESPACE: Final = "http://www.w3.org/2000/svg"
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
PNG_KEYWORD: Final = b"openbadgecredential"
SVG_MEDIA_TYPE: Final = "image/svg+xml"
PNG_MEDIA_TYPE: Final = "image/png"

MAX_IMAGE_BYTES: Final = 8 * 1024 * 1024  # a badge image, baked or not
MAX_CREDENTIAL_BYTES: Final = 1024 * 1024  # the baked credential (ours are ~5 KB as a JWS, ~8 KB as JSON)
MAX_PNG_CHUNKS: Final = 100_000
_MAX_PNG_CHUNK_LENGTH: Final = 2**31 - 1  # PNG §5.3: a chunk length is at most 2^31 - 1

_CREDENTIAL_TAG: Final = f"{{{OB3_NAMESPACE}}}credential"
_SVG_TAG: Final = f"{{{SVG_NAMESPACE}}}svg"
_COMPACT_JWS: Final = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")
_XML_ENCODING: Final = re.compile(rb"""\A(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_PROLOG_ITEM: Final = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE\s[^\[>]*(?:\[.*?\]\s*)?>", re.DOTALL)
_FIRST_TAG: Final = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)")


class BakedBadgeError(Unprocessable):
    """A file that is not a well-formed PNG or SVG badge, or whose baked credential is malformed."""

    default_code = "invalid_baked_badge"


class NoCredentialError(BakedBadgeError):
    """A well-formed PNG or SVG image with no baked credential in it."""

    default_code = "no_baked_credential"


# --- what a file is -------------------------------------------------------------------------------------------


def kind_of(data: bytes) -> Literal["png", "svg"] | None:
    """"png" or "svg" by content (the PNG signature; an XML document whose first element is `svg`), else None."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    head = data[:65536]
    position = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while (item := _PROLOG_ITEM.match(head, position)) is not None and item.end() > position:
        position = item.end()
    tag = _FIRST_TAG.match(head, position)
    return "svg" if tag is not None and tag.group(1) == b"svg" else None


def media_type(kind: Literal["png", "svg"]) -> str:
    """The Content-Type of a baked image."""
    return PNG_MEDIA_TYPE if kind == "png" else SVG_MEDIA_TYPE


def _as_text(credential: str | dict[str, Any]) -> tuple[str, bool]:
    """The text to bake and whether it is a Compact JWS (else the JSON of a credential with an embedded proof)."""
    if isinstance(credential, dict):
        text = json.dumps(credential, ensure_ascii=False, separators=(",", ":"))
        is_jws = False
    else:
        text = credential.strip()
        if not _COMPACT_JWS.fullmatch(text):
            raise ValueError("a credential to bake is a Compact JWS string or a credential dict")
        is_jws = True
    if len(text.encode()) > MAX_CREDENTIAL_BYTES:
        raise ValueError(f"a credential to bake is at most {MAX_CREDENTIAL_BYTES} bytes")
    return text, is_jws


def _credential_of(text: str, where: str) -> str | dict[str, Any]:
    """The baked text as a Compact JWS (str) or a credential (dict, parsed with duplicate keys refused)."""
    text = text.strip()
    if not text:
        raise NoCredentialError(f"The {where} is empty: no credential is baked in this image.")
    if len(text.encode()) > MAX_CREDENTIAL_BYTES:
        raise BakedBadgeError(f"The {where} is over {MAX_CREDENTIAL_BYTES} bytes.")
    if text.startswith("{"):
        try:
            value = strict_json.loads(text.encode())
        except ValueError as exc:
            raise BakedBadgeError(f"The {where} is not valid JSON ({exc}).") from None
        if not isinstance(value, dict):
            raise BakedBadgeError(f"The {where} is JSON but not an object.")
        return value
    if not _COMPACT_JWS.fullmatch(text):
        raise BakedBadgeError(f"The {where} holds neither a Compact JWS nor a credential's JSON.")
    return text


def extract_text(data: bytes) -> str:
    """The baked credential's own text (a Compact JWS or JSON, unparsed), from a PNG or SVG image."""
    text, where = _extract(data)
    if not text.strip():
        raise NoCredentialError(f"The {where} is empty: no credential is baked in this image.")
    if len(text.encode()) > MAX_CREDENTIAL_BYTES:
        raise BakedBadgeError(f"The {where} is over {MAX_CREDENTIAL_BYTES} bytes.")
    return text.strip()


def extract(data: bytes) -> str | dict[str, Any]:
    """The baked credential of a PNG or SVG image: a Compact JWS (str) or a credential with an embedded proof (dict).

    BakedBadgeError for anything malformed, NoCredentialError for a well-formed image without a credential.
    """
    text, where = _extract(data)
    return _credential_of(text, where)


def _extract(data: bytes) -> tuple[str, str]:
    if len(data) > MAX_IMAGE_BYTES:
        raise BakedBadgeError(f"The image is over {MAX_IMAGE_BYTES} bytes.")
    kind = kind_of(data)
    if kind == "png":
        return _extract_png(data), "PNG's openbadgecredential chunk"
    if kind == "svg":
        return _extract_svg(data), "SVG's openbadges:credential element"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise BakedBadgeError("The file is XML or HTML but not an SVG image: a baked badge is a PNG or an SVG.")
    raise BakedBadgeError("The file is neither a PNG nor an SVG image: a baked badge is one of the two.")


# --- PNG ------------------------------------------------------------------------------------------------------


def _png_chunks(png: bytes) -> list[tuple[bytes, int, int]]:
    """Every chunk as (type, start, end) of its whole bytes, length to CRC, checked strictly (else BakedBadgeError)."""
    if len(png) > MAX_IMAGE_BYTES:
        raise BakedBadgeError(f"The PNG is over {MAX_IMAGE_BYTES} bytes.")
    if not png.startswith(PNG_SIGNATURE):
        raise BakedBadgeError("The file does not start with the PNG signature.")
    chunks: list[tuple[bytes, int, int]] = []
    view = memoryview(png)
    position = len(PNG_SIGNATURE)
    while True:
        if len(chunks) >= MAX_PNG_CHUNKS:
            raise BakedBadgeError(f"The PNG has over {MAX_PNG_CHUNKS} chunks.")
        if position + 8 > len(png):
            raise BakedBadgeError("The PNG is truncated: it ends before its IEND chunk.")
        (length,) = struct.unpack_from(">I", png, position)
        kind = png[position + 4 : position + 8]
        if length > _MAX_PNG_CHUNK_LENGTH:
            raise BakedBadgeError("A PNG chunk declares a length over 2^31 - 1 bytes.")
        if not all(65 <= byte <= 90 or 97 <= byte <= 122 for byte in kind):
            raise BakedBadgeError("A PNG chunk type is not four ASCII letters.")
        end = position + 12 + length
        if end > len(png):  # compared before anything is sliced: a declared length allocates nothing
            raise BakedBadgeError(f"The PNG is truncated: its {kind.decode()} chunk runs past the end of the file.")
        (crc,) = struct.unpack_from(">I", png, end - 4)
        if zlib.crc32(view[position + 4 : end - 4]) != crc:
            raise BakedBadgeError(f"The PNG's {kind.decode()} chunk fails its CRC check.")
        if not chunks and (kind != b"IHDR" or length != 13):
            raise BakedBadgeError("The PNG does not start with an IHDR chunk.")
        chunks.append((kind, position, end))
        position = end
        if kind == b"IEND":
            if length != 0:
                raise BakedBadgeError("The PNG's IEND chunk is not empty.")
            if position != len(png):
                raise BakedBadgeError("The PNG has data after its IEND chunk.")
            return chunks


def _itxt_keyword(data: bytes | memoryview) -> bytes:
    """The keyword of an iTXt chunk's data (1-79 Latin-1 bytes before a NUL), or b"" if it has none."""
    head = bytes(data[:80])
    end = head.find(b"\0")
    return head[:end] if end >= 1 else b""


def _extract_png(png: bytes) -> str:
    found: list[bytes] = []
    for kind, start, end in _png_chunks(png):
        if kind != b"iTXt":
            continue
        data = png[start + 8 : end - 4]
        if _itxt_keyword(data) != PNG_KEYWORD:
            continue
        found.append(data)
        if len(found) > 1:
            raise BakedBadgeError("The PNG holds more than one openbadgecredential chunk (OB 3.0 §5.3.1.1 allows one).")
    if not found:
        raise NoCredentialError("The PNG holds no openbadgecredential iTXt chunk: no credential is baked in it.")
    data = found[0]
    rest = data[len(PNG_KEYWORD) + 1 :]
    if len(rest) < 2:
        raise BakedBadgeError("The PNG's openbadgecredential chunk is truncated.")
    if rest[0] != 0:
        raise BakedBadgeError("The PNG's openbadgecredential chunk is compressed, which OB 3.0 §5.3.1.1 forbids.")
    if rest[1] != 0:
        raise BakedBadgeError("The PNG's openbadgecredential chunk names an unknown compression method.")
    fields = rest[2:].split(b"\0", 2)  # language tag, translated keyword, text
    if len(fields) != 3:
        raise BakedBadgeError("The PNG's openbadgecredential chunk lacks its language tag or translated keyword.")
    try:
        return fields[2].decode("utf-8")
    except UnicodeDecodeError:
        raise BakedBadgeError("The PNG's openbadgecredential text is not UTF-8.") from None


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bake_png(png: bytes, credential: str | dict[str, Any]) -> bytes:
    """The PNG with the credential in an uncompressed `openbadgecredential` iTXt chunk before IEND (OB 3.0 §5.3.1.1).

    A credential already baked in is replaced; BakedBadgeError if `png` is not a well-formed PNG.
    """
    text, _ = _as_text(credential)
    # keyword, NUL, compression flag 0, compression method 0, empty language tag, NUL, empty translated keyword, NUL
    chunk = _png_chunk(b"iTXt", PNG_KEYWORD + b"\0\0\0\0\0" + text.encode("utf-8"))
    parts = [PNG_SIGNATURE]
    for kind, start, end in _png_chunks(png):
        if kind == b"iTXt" and _itxt_keyword(png[start + 8 : end - 4]) == PNG_KEYWORD:
            continue
        if kind == b"IEND":
            parts.append(chunk)
        parts.append(png[start:end])
    return b"".join(parts)


# --- SVG ------------------------------------------------------------------------------------------------------


class _Scan:
    """A parser target that records where the root and the credential elements are, and what they hold."""

    def __init__(self) -> None:
        self.parser: Any = None
        self.depth = 0
        self.root: tuple[str, int] | None = None
        self.root_namespaces: dict[str, str] = {}
        self.credentials: list[dict[str, Any]] = []
        self._inside: dict[str, Any] | None = None

    def start_ns(self, prefix: str, uri: str) -> None:
        if self.depth == 0:
            self.root_namespaces[prefix] = uri

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        index = self.parser.CurrentByteIndex
        if self.depth == 0:
            self.root = (tag, index)
        elif self._inside is not None:
            self._inside["children"] = True
        elif tag == _CREDENTIAL_TAG:
            self._inside = {"start": index, "attrib": dict(attrib), "text": [], "children": False,
                            "depth": self.depth}
            self.credentials.append(self._inside)
            if len(self.credentials) > 1:
                raise BakedBadgeError("The SVG holds more than one openbadges:credential element "
                                      "(OB 3.0 §5.3.2.1 allows one).")
        self.depth += 1

    def end(self, tag: str) -> None:
        self.depth -= 1
        if self._inside is not None and self.depth == self._inside["depth"]:
            self._inside["end_event"] = self.parser.CurrentByteIndex
            self._inside = None

    def data(self, text: str) -> None:
        if self._inside is not None:
            self._inside["text"].append(text)

    def close(self) -> None:
        return None


def _scan_svg(data: bytes) -> _Scan:
    """Parse an SVG safely (defusedxml: entity declarations and external references refused) and scan it."""
    if len(data) > MAX_IMAGE_BYTES:
        raise BakedBadgeError(f"The SVG is over {MAX_IMAGE_BYTES} bytes.")
    scan = _Scan()
    parser = DefusedXMLParser(target=scan, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    scan.parser = parser.parser
    try:
        parser.feed(data)
        parser.close()
    except DefusedXmlException as exc:
        raise BakedBadgeError(f"The SVG declares entities or external references, which are refused ({exc}).") from None
    except SyntaxError as exc:  # xml.etree.ElementTree.ParseError
        raise BakedBadgeError(f"The SVG is not well-formed XML ({exc}).") from None
    if scan.root is None or scan.root[0] != _SVG_TAG:
        raise BakedBadgeError("The XML document's root is not an SVG <svg> element.")
    return scan


def _extract_svg(data: bytes) -> str:
    scan = _scan_svg(data)
    if not scan.credentials:
        raise NoCredentialError("The SVG holds no openbadges:credential element: no credential is baked in it.")
    element = scan.credentials[0]
    verify = element["attrib"].get("verify")
    body = "".join(element["text"]).strip()
    if element["children"]:
        raise BakedBadgeError("The SVG's openbadges:credential element holds other elements.")
    if verify is not None and body:
        raise BakedBadgeError("The SVG's openbadges:credential element has both a verify attribute and a body.")
    if verify is not None:
        if not _COMPACT_JWS.fullmatch(verify.strip()):
            raise BakedBadgeError("The SVG's openbadges:credential verify attribute is not a Compact JWS.")
        return str(verify).strip()
    return body


def _tag_end(data: bytes, start: int) -> int:
    """The index just past the '>' closing the tag that starts at `start` (quoted attribute values skipped)."""
    quote = 0
    for index in range(start + 1, len(data)):
        byte = data[index]
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):
            quote = byte
        elif byte == 0x3E:
            return index + 1
    raise BakedBadgeError("The SVG has an unterminated tag.")  # unreachable after a successful parse


def _cdata(text: str) -> str:
    """`text` as CDATA sections: a "]]>" inside is split across two sections."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def bake_svg(svg: str, credential: str | dict[str, Any]) -> str:
    """The SVG with the credential in `<openbadges:credential>` directly after the `<svg>` tag (OB 3.0 §5.3.2.1).

    A Compact JWS goes in the `verify` attribute; a credential with an embedded proof goes in the body as CDATA.
    The rest of the SVG is kept byte for byte; a credential already baked in is replaced. BakedBadgeError if `svg`
    is not a well-formed SVG, or binds the `openbadges` prefix to another namespace.
    """
    text, is_jws = _as_text(credential)
    data = svg.encode("utf-8")
    declared = _XML_ENCODING.match(data)
    if declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise BakedBadgeError("Only UTF-8 SVG can be baked.")
    scan = _scan_svg(data)
    assert scan.root is not None
    root_start = scan.root[1]
    root_end = _tag_end(data, root_start)
    bound = scan.root_namespaces.get("openbadges")
    if bound is not None and bound != OB3_NAMESPACE:
        raise BakedBadgeError(f"The SVG binds the openbadges prefix to {bound}, not {OB3_NAMESPACE}.")

    # Remove a credential baked before (there is at most one: the scan refuses two).
    for element in scan.credentials:
        start = element["start"]
        start_end = _tag_end(data, start)
        end = start_end if data[start_end - 2 : start_end] == b"/>" else _tag_end(data, element["end_event"])
        data = data[:start] + data[end:]

    if is_jws:
        baked = f'<openbadges:credential verify="{text}"></openbadges:credential>'
    else:
        baked = f"<openbadges:credential>{_cdata(text)}</openbadges:credential>"
    declaration = b"" if bound is not None else f' xmlns:openbadges="{OB3_NAMESPACE}"'.encode()
    if data[root_end - 2 : root_end] == b"/>":  # <svg .../>: open it, bake, close it
        name = _FIRST_TAG.match(data, root_start)
        assert name is not None
        opened = data[: root_end - 2].rstrip() + declaration + b">"
        closed = b"</" + data[root_start + 1 : name.end()] + b">"
        return (opened + baked.encode() + closed + data[root_end:]).decode("utf-8")
    opened = data[: root_end - 1] + declaration + b">"
    return (opened + baked.encode() + data[root_end:]).decode("utf-8")
