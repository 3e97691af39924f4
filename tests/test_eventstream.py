"""The event-stream codec: round trips, arbitrary splits, CRC checks, and agreement with botocore."""

from __future__ import annotations

import random
import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer

from tollway.eventstream import EventStreamDecoder, EventStreamError, encode_message

HEADERS = {":event-type": "messageStop", ":content-type": "application/json", ":message-type": "event"}


def test_the_documented_example_frame() -> None:
    # PROVIDERS.md §8.6: messageStop {"stopReason":"end_turn"} is 122 bytes, prefix 00 00 00 7a 00 00 00 51.
    frame = encode_message(HEADERS, b'{"stopReason":"end_turn"}')
    assert len(frame) == 122
    assert frame[:8] == bytes.fromhex("0000007a00000051")


def test_round_trip_of_every_header_type() -> None:
    headers = {"t": True, "f": False, "i": 7, "b": b"\x00\x01", "s": "x", "u": uuid.UUID(int=5)}
    [message] = EventStreamDecoder().feed(encode_message(headers, b"payload"))
    assert message.headers == headers
    assert message.payload == b"payload"


def test_botocore_decodes_our_frames() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(encode_message(HEADERS, b"{}") + encode_message({":message-type": "event"}, b"x"))
    messages = list(buffer)
    assert [m.headers.get(":event-type") for m in messages] == ["messageStop", None]
    assert [m.payload for m in messages] == [b"{}", b"x"]


def test_we_decode_botocore_style_int_headers() -> None:
    # Other integer widths and timestamps (value types 2, 3, 5, 8), written by hand.
    raw = b"".join(
        struct.pack("!B", 1) + name + bytes([kind]) + value
        for name, kind, value in (
            (b"a", 2, struct.pack("!b", -1)),
            (b"b", 3, struct.pack("!h", 300)),
            (b"c", 5, struct.pack("!q", 1 << 40)),
            (b"d", 8, struct.pack("!q", 1700000000000)),
        )
    )
    prelude = struct.pack("!II", 12 + len(raw) + 4, len(raw))
    body = prelude + struct.pack("!I", zlib.crc32(prelude)) + raw
    frame = body + struct.pack("!I", zlib.crc32(body))
    [message] = EventStreamDecoder().feed(frame)
    assert message.headers == {"a": -1, "b": 300, "c": 1 << 40, "d": 1700000000000}


def test_byte_by_byte_and_random_splits() -> None:
    stream = b"".join(encode_message(HEADERS, f'{{"n":{i}}}'.encode()) for i in range(20))
    decoder = EventStreamDecoder()
    got = [m.payload for byte in stream for m in decoder.feed(bytes([byte]))]
    assert got == [f'{{"n":{i}}}'.encode() for i in range(20)]
    assert decoder.pending == 0
    rng = random.Random(7)
    for _ in range(20):
        decoder = EventStreamDecoder()
        cuts = sorted(rng.sample(range(1, len(stream)), 15))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        assert len([m for piece in pieces for m in decoder.feed(piece)]) == 20


def test_partial_frame_is_pending() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(encode_message(HEADERS, b"{}")[:-3]) == []
    assert decoder.pending > 0


@pytest.mark.parametrize("position", [2, 9, 40, -2])
def test_corruption_is_detected(position: int) -> None:
    frame = bytearray(encode_message(HEADERS, b'{"stopReason":"end_turn"}'))
    frame[position] ^= 0xFF
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(bytes(frame))


def test_unknown_header_type_is_an_error() -> None:
    raw = b"\x01a\x0f"
    prelude = struct.pack("!II", 12 + len(raw) + 4, len(raw))
    body = prelude + struct.pack("!I", zlib.crc32(prelude)) + raw
    with pytest.raises(EventStreamError, match="header type 15"):
        EventStreamDecoder().feed(body + struct.pack("!I", zlib.crc32(body)))
