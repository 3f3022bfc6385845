"""app.status_lists.bitstring: W3C Bitstring Status List v1.0 encoding, bit order and decoding limits."""

from __future__ import annotations

import base64
import gzip
import random
import struct
import zlib

import pytest

from app.status_lists import bitstring

# Bitstring Status List v1.0 §2.2, Example 3: the encodedList of a 16KB list with no bit set.
W3C_EXAMPLE_ENCODED_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"


def multibase(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_gzip(encoded: str) -> bytes:
    body = encoded[1:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def test_min_length_is_16kb_of_bits() -> None:
    assert bitstring.MIN_LENGTH == 131072 == 16 * 1024 * 8


def test_empty_list_reproduces_the_w3c_example_exactly() -> None:
    assert bitstring.encode([]) == W3C_EXAMPLE_ENCODED_LIST


def test_w3c_example_decodes_to_16kb_of_zeros() -> None:
    assert bitstring.decode(W3C_EXAMPLE_ENCODED_LIST) == bytes(16384)


def test_encoding_is_deterministic_with_mtime_zero() -> None:
    indexes = [3, 94567, 23452]
    first, second = bitstring.encode(indexes), bitstring.encode(reversed(indexes))
    assert first == second
    data = raw_gzip(first)
    assert data[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no optional fields
    assert struct.unpack("<I", data[4:8]) == (0,)  # MTIME = 0
    assert "=" not in first and first.startswith("u")


def test_round_trip() -> None:
    rng = random.Random(7)
    indexes = set(rng.sample(range(bitstring.MIN_LENGTH), 500))
    bits = bitstring.decode(bitstring.encode(indexes))
    assert len(bits) == bitstring.MIN_LENGTH // 8
    assert {i for i in range(bitstring.MIN_LENGTH) if bitstring.is_set(bits, i)} == indexes


def test_round_trip_of_a_longer_list() -> None:
    length = bitstring.MIN_LENGTH * 4
    bits = bitstring.decode(bitstring.encode([0, length - 1], length=length))
    assert len(bits) == length // 8
    assert bitstring.is_set(bits, 0) and bitstring.is_set(bits, length - 1)
    assert not bitstring.is_set(bits, 1) and not bitstring.is_set(bits, length - 2)


def test_index_zero_is_the_most_significant_bit_of_the_first_byte() -> None:
    bits = bitstring.decode(bitstring.encode([0]))
    assert bits[0] == 0b1000_0000
    assert bits[1:] == bytes(len(bits) - 1)


def test_last_index_is_the_least_significant_bit_of_the_last_byte() -> None:
    last = bitstring.MIN_LENGTH - 1
    bits = bitstring.decode(bitstring.encode([last]))
    assert bits[-1] == 0b0000_0001
    assert bits[:-1] == bytes(len(bits) - 1)


def test_msb_first_matches_a_hand_built_byte() -> None:
    # Indexes 0, 2 and 7 in byte 0, index 9 in byte 1: 0b10100001, 0b01000000.
    bits = bitstring.decode(bitstring.encode([0, 2, 7, 9]))
    assert bits[:2] == bytes([0b1010_0001, 0b0100_0000])
    hand_built = bytes([0b1001_0000]) + bytes(16383)
    assert [i for i in range(8) if bitstring.is_set(hand_built, i)] == [0, 3]
    assert bitstring.decode(multibase(gzip.compress(hand_built))) == hand_built


def test_decode_accepts_any_valid_gzip_header() -> None:
    bits = bytes([0x40]) + bytes(16383)
    assert bitstring.decode(multibase(gzip.compress(bits, mtime=1234567))) == bits


@pytest.mark.parametrize("index", [-1, bitstring.MIN_LENGTH, 10**9, True, 1.0, "1"])
def test_encode_rejects_indexes_outside_the_list(index: object) -> None:
    with pytest.raises(ValueError):
        bitstring.encode([index])  # type: ignore[list-item]


@pytest.mark.parametrize("length", [0, 8, bitstring.MIN_LENGTH - 8, bitstring.MIN_LENGTH + 1, True])
def test_encode_rejects_short_or_unaligned_lengths(length: int) -> None:
    with pytest.raises(ValueError):
        bitstring.encode([], length=length)


@pytest.mark.parametrize("index", [-1, 131072, 10**12, True])
def test_is_set_raises_range_error_outside_the_list(index: int) -> None:
    with pytest.raises(IndexError):
        bitstring.is_set(bytes(16384), index)


@pytest.mark.parametrize(
    "encoded",
    [
        W3C_EXAMPLE_ENCODED_LIST[1:],  # no multibase prefix
        "z" + W3C_EXAMPLE_ENCODED_LIST[1:],  # base58btc prefix
        "U" + W3C_EXAMPLE_ENCODED_LIST[1:],  # base64url with padding is 'U' in multibase; refused
        "m" + base64.b64encode(raw_gzip(W3C_EXAMPLE_ENCODED_LIST)).decode(),  # plain base64
        W3C_EXAMPLE_ENCODED_LIST + "=",
        W3C_EXAMPLE_ENCODED_LIST + "==",
        W3C_EXAMPLE_ENCODED_LIST.replace("-", "+"),
        W3C_EXAMPLE_ENCODED_LIST[:10] + " " + W3C_EXAMPLE_ENCODED_LIST[10:],
        W3C_EXAMPLE_ENCODED_LIST + "\n",
        W3C_EXAMPLE_ENCODED_LIST + "A",  # impossible length
        "u",
        "",
    ],
)
def test_decode_rejects_bad_encodings(encoded: str) -> None:
    with pytest.raises(ValueError):
        bitstring.decode(encoded)


def test_decode_rejects_non_canonical_trailing_bits() -> None:
    encoded = next(e for e in (bitstring.encode([i]) for i in range(64)) if len(e[1:]) % 4 in (2, 3))
    unused = 0b1111 if len(encoded[1:]) % 4 == 2 else 0b11
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    value = alphabet.index(encoded[-1])
    for low in range(1, unused + 1):
        sibling = encoded[:-1] + alphabet[(value & ~unused) | low]
        assert raw_gzip(sibling) == raw_gzip(encoded)  # a lax decoder would take both spellings
        with pytest.raises(ValueError):
            bitstring.decode(sibling)


def test_decode_rejects_non_string() -> None:
    with pytest.raises(ValueError):
        bitstring.decode(b"uH4sI")  # type: ignore[arg-type]


def test_decode_rejects_data_that_is_not_gzip() -> None:
    with pytest.raises(ValueError):
        bitstring.decode(multibase(zlib.compress(bytes(16384))))
    with pytest.raises(ValueError):
        bitstring.decode(multibase(bytes(16384)))


def test_decode_rejects_truncated_and_corrupted_streams() -> None:
    data = raw_gzip(bitstring.encode([5]))
    with pytest.raises(ValueError):
        bitstring.decode(multibase(data[:-4]))  # no ISIZE
    with pytest.raises(ValueError):
        bitstring.decode(multibase(data[: len(data) // 2]))
    corrupt_crc = data[:-8] + bytes([data[-8] ^ 1]) + data[-7:]
    with pytest.raises(ValueError):
        bitstring.decode(multibase(corrupt_crc))


def test_decode_rejects_trailing_data_and_second_members() -> None:
    data = raw_gzip(bitstring.encode([5]))
    with pytest.raises(ValueError):
        bitstring.decode(multibase(data + b"\x00"))
    with pytest.raises(ValueError):
        bitstring.decode(multibase(data + gzip.compress(bytes([0xFF]) * 16)))  # would flip bits if appended


def test_decode_refuses_a_gzip_bomb_without_inflating_it() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    bomb = b"".join(compressor.compress(chunk) for _ in range(64)) + compressor.flush()  # 64 MiB of zeros
    assert len(bomb) < 100_000
    with pytest.raises(ValueError, match="larger than"):
        bitstring.decode(multibase(bomb))
    with pytest.raises(ValueError, match="larger than"):
        bitstring.decode(bitstring.encode([], length=bitstring.MIN_LENGTH * 2), max_bytes=16384)


def test_decode_enforces_the_minimum_list_length() -> None:
    short = multibase(gzip.compress(bytes(1024)))
    with pytest.raises(ValueError, match="fewer than"):
        bitstring.decode(short)
    assert bitstring.decode(short, min_bytes=0) == bytes(1024)


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("7", 7), ("94567", 94567), ("131071", 131071)])
def test_parse_index_accepts_base10_strings(text: str, value: int) -> None:
    assert bitstring.parse_index(text) == value


@pytest.mark.parametrize(
    "text", ["", "-1", "+1", "01", "00", "1.0", "1e3", " 1", "1 ", "0x10", "\u0661\u0662", "\uff11", 12, None, "9" * 19]
)
def test_parse_index_rejects_everything_else(text: object) -> None:
    with pytest.raises(ValueError):
        bitstring.parse_index(text)


# -- entries wider than one bit (statusSize > 1, §2.1, §3.2 step 10, §3.3) --------------------------------


def test_two_bit_entries_sit_at_index_times_size_most_significant_bit_first() -> None:
    values = [(0, 2), (1, 1), (5, 3), (bitstring.MIN_LENGTH - 1, 2)]
    bits = bitstring.decode(bitstring.encode_values(values, bitstring.MIN_LENGTH, 2), size=2)
    # §3.2 step 9: 131,072 entries of 2 bits: 32KB uncompressed.
    assert len(bits) == 32768
    # Entry 0 = 0b10 -> bits 0,1 = 1,0; entry 1 = 0b01 -> bits 2,3 = 0,1; entry 5 = 0b11 -> bits 10,11.
    assert bits[0] == 0b1001_0000 and bits[1] == 0b0011_0000
    assert bits[-1] == 0b0000_0010
    assert [bitstring.read_value(bits, index, 2) for index in (0, 1, 2, 5, bitstring.MIN_LENGTH - 1)] == [2, 1, 0, 3, 2]
    # The same bytes read one bit at a time (what a one-bit reader sees) are bits index*2 and index*2+1.
    assert [bitstring.is_set(bits, position) for position in (0, 1, 2, 3)] == [True, False, False, True]


def test_random_two_bit_values_round_trip() -> None:
    rng = random.Random(7)
    values = {rng.randrange(bitstring.MIN_LENGTH): rng.randrange(1, 4) for _ in range(500)}
    bits = bitstring.decode(bitstring.encode_values(values.items(), size=2), size=2)
    assert {i: v for i in range(bitstring.MIN_LENGTH) if (v := bitstring.read_value(bits, i, 2))} == values


def test_a_one_bit_list_is_too_short_for_two_bit_entries() -> None:
    one_bit = bitstring.encode([5])
    with pytest.raises(ValueError, match="fewer than 262144 bits"):
        bitstring.decode(one_bit, size=2)
    assert bitstring.encode_values([(5, 1)]) == one_bit


@pytest.mark.parametrize(("index", "value", "size"), [
    (bitstring.MIN_LENGTH, 1, 2), (-1, 1, 2), (0, 4, 2), (0, -1, 2), (0, True, 2), (0, 1, 0), (0, 1, 9),
])
def test_encode_values_refuses_what_does_not_fit(index: int, value: int, size: int) -> None:
    with pytest.raises(ValueError):
        bitstring.encode_values([(index, value)], bitstring.MIN_LENGTH, size)


def test_read_value_raises_range_error_past_the_last_whole_entry() -> None:
    bits = bytes(32768)
    assert bitstring.read_value(bits, bitstring.MIN_LENGTH - 1, 2) == 0
    for index in (bitstring.MIN_LENGTH, -1):
        with pytest.raises(IndexError):
            bitstring.read_value(bits, index, 2)
