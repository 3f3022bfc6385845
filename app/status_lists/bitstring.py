"""W3C Bitstring Status List v1.0 (Recommendation, 2025-05-15): the `encodedList` bitstring.

PURE: no I/O, no clock, no environment.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Iterable
from typing import Final

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MIN_LENGTH",
    "decode",
    "encode",
    "encode_values",
    "is_set",
    "parse_index",
    "read_value",
]

# §3.2 step 2 / §2.2 `encodedList`: at least 131,072 entries, i.e. an uncompressed bitstring of 16KB.
MIN_LENGTH: Final = 131072
# Decompression bound: 2 MiB of bitstring (16,777,216 entries), far above any list we publish.
DEFAULT_MAX_BYTES: Final = 2 * 1024 * 1024
_MAX_INDEX_DIGITS: Final = 18

# RFC 1952 member header: ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=3. Fixed so output is deterministic
# (gzip.compress writes the platform's OS byte); with level 9 it reproduces §2.2 Example 3 byte for byte.
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
_B64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]*")
_INDEX_RE: Final = re.compile(r"0|[1-9][0-9]*")
_B64URL_VALUE: Final = {
    char: value for value, char in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}


def _set_bit(bits: bytearray, index: int) -> None:
    bits[index >> 3] |= 0x80 >> (index & 7)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def encode(set_indexes: Iterable[int], length: int = MIN_LENGTH) -> str:
    """The multibase (`u`) base64url, no padding, of the GZIP-compressed bitstring with these bits set."""
    return encode_values(((index, 1) for index in set_indexes), length, 1)


def encode_values(values: Iterable[tuple[int, int]], length: int = MIN_LENGTH, size: int = 1) -> str:
    """The `encodedList` of `length` entries of `size` bits each, from (index, value) pairs (others are 0).

    §3.3 Bitstring Generation: entry `index` occupies bits index*size .. index*size+size-1, and its value is
    read most significant bit first (the bitstring is big-endian, index 0 the left-most bit, §2.2).
    """
    if not _is_int(size) or not 1 <= size <= 8:
        raise ValueError("statusSize must be an integer from 1 to 8")
    if not _is_int(length) or length < MIN_LENGTH or (length * size) % 8:
        raise ValueError(f"length must be at least {MIN_LENGTH} entries filling whole bytes")
    bits = bytearray(length * size // 8)
    for index, value in values:
        if not _is_int(index) or not 0 <= index < length:
            raise ValueError(f"status index {index!r} is outside the list of {length} entries")
        if not _is_int(value) or not 0 <= value < 1 << size:
            raise ValueError(f"status value {value!r} does not fit in {size} bits")
        for offset in range(size):
            if value & (1 << (size - 1 - offset)):
                _set_bit(bits, index * size + offset)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(bytes(bits)) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(bits), len(bits) & 0xFFFFFFFF)
    # §3.3 step 3: GZIP, then Multibase-encode with base64url (no padding), whose prefix is "u".
    return "u" + base64.urlsafe_b64encode(_GZIP_HEADER + deflated + trailer).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not text.isascii() or _B64URL_RE.fullmatch(text) is None:
        raise ValueError("encodedList is not base64url without padding")
    rem = len(text) % 4
    if rem == 1:
        raise ValueError("encodedList has an impossible base64url length")
    if rem:
        if _B64URL_VALUE[text[-1]] & (0b1111 if rem == 2 else 0b11):
            raise ValueError("encodedList is not canonical base64url")
        text += "=" * (4 - rem)
    return base64.urlsafe_b64decode(text)


def decode(
    encoded: str, *, max_bytes: int = DEFAULT_MAX_BYTES, min_bytes: int | None = None, size: int = 1
) -> bytes:
    """The uncompressed bitstring (§3.4 Bitstring Expansion); ValueError if malformed or too large.

    `min_bytes` defaults to MIN_LENGTH entries of `size` bits (§3.2 step 9 divides the length by statusSize).
    """
    if min_bytes is None:
        min_bytes = MIN_LENGTH * size // 8
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise ValueError("encodedList must be a multibase base64url string starting with 'u'")
    compressed = _b64url_decode(encoded[1:])
    if len(compressed) < 18 or compressed[:3] != b"\x1f\x8b\x08":
        raise ValueError("encodedList is not GZIP data")
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper, header and CRC checked by zlib
    try:
        # Bounded: never inflate more than max_bytes + 1, whatever the compression ratio (gzip bombs).
        bits = decompressor.decompress(compressed, max_bytes + 1)
    except zlib.error:
        raise ValueError("encodedList is not valid GZIP data") from None
    if len(bits) > max_bytes:
        raise ValueError(f"the status list is larger than {max_bytes} bytes")
    if not decompressor.eof:
        raise ValueError("encodedList is truncated GZIP data")
    if decompressor.unused_data:
        raise ValueError("encodedList has data after the GZIP stream")
    # §3.2 step 9: a list shorter than the minimum number of entries is a STATUS_LIST_LENGTH_ERROR.
    if len(bits) < min_bytes:
        raise ValueError(f"the status list has fewer than {min_bytes * 8} bits ({min_bytes * 8 // size} entries)")
    return bits


def is_set(bits: bytes, index: int) -> bool:
    """Whether bit `index` is 1 (index 0 = MSB of the first byte); IndexError when out of range."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(bits) * 8:
        # §3.2 step 10: an index outside the bitstring is a RANGE_ERROR.
        raise IndexError(f"status index {index!r} is outside the list of {len(bits) * 8} entries")
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def parse_index(value: object) -> int:
    """A `statusListIndex`: base-10 string of a non-negative integer (§2.1), without leading zeros."""
    if not isinstance(value, str) or not value.isascii() or _INDEX_RE.fullmatch(value) is None:
        raise ValueError("statusListIndex must be a string of a non-negative base-10 integer")
    if len(value) > _MAX_INDEX_DIGITS:
        raise ValueError("statusListIndex is too large")
    return int(value)


def read_value(bits: bytes, index: int, size: int = 1) -> int:
    """The `size`-bit value of entry `index` (§3.2 step 10: bits from index*size, MSB first); IndexError if outside."""
    if not _is_int(size) or not 1 <= size <= 8:
        raise ValueError("statusSize must be an integer from 1 to 8")
    if not _is_int(index) or index < 0 or (index + 1) * size > len(bits) * 8:
        raise IndexError(f"status index {index!r} is outside the list of {len(bits) * 8 // size} entries")
    value = 0
    for position in range(index * size, index * size + size):
        value = value << 1 | (bits[position >> 3] >> (7 - (position & 7))) & 1
    return value
