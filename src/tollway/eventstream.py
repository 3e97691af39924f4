"""The ``application/vnd.amazon.eventstream`` binary framing: an incremental decoder and an encoder (pure).

Framing (../shared/PROVIDERS.md §8.6; botocore ``eventstream.py``), all integers big-endian::

    total_len u32 | headers_len u32 | prelude_crc u32 | headers | payload | message_crc u32

``prelude_crc`` is the CRC32 of the first 8 bytes, ``message_crc`` the CRC32 of everything before it. A header is
``name_len u8 | name | value_type u8 | value``. Both CRCs are checked, as botocore does: a corrupted frame raises
``EventStreamError`` instead of yielding garbage. Bytes may arrive split anywhere; ``EventStreamDecoder.feed``
keeps the incomplete tail for the next call.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "EventStreamDecoder",
    "EventStreamError",
    "EventStreamMessage",
    "HeaderValue",
    "encode_message",
]

HeaderValue = bool | int | bytes | str | uuid.UUID

# botocore's limits (eventstream.py _MAX_HEADERS_LENGTH / _MAX_PAYLOAD_LENGTH).
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
_PRELUDE = 12  # total_len, headers_len, prelude_crc
_TRAILER = 4  # message_crc
_INTS: Mapping[int, tuple[str, int]] = {2: ("!b", 1), 3: ("!h", 2), 4: ("!i", 4), 5: ("!q", 8), 8: ("!q", 8)}


class EventStreamError(ValueError):
    """The bytes are not a valid event stream (bad CRC, impossible lengths, unknown header type)."""


@dataclass(frozen=True, slots=True)
class EventStreamMessage:
    """One decoded message: its headers (timestamps as int milliseconds) and raw payload."""

    headers: Mapping[str, HeaderValue]
    payload: bytes


class EventStreamDecoder:
    """Incremental decoder: ``feed`` bytes in any split, get the messages they complete."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """How many bytes of an incomplete message are buffered (non-zero at EOF means a cut stream)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        """Decode ``data``; raise ``EventStreamError`` on a corrupt frame."""
        self._buffer.extend(data)
        messages: list[EventStreamMessage] = []
        while len(self._buffer) >= _PRELUDE:
            total, headers_len, prelude_crc = struct.unpack_from("!III", self._buffer, 0)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise EventStreamError("event stream prelude CRC mismatch")
            payload_len = total - _PRELUDE - headers_len - _TRAILER
            if headers_len > MAX_HEADERS_LENGTH or not 0 <= payload_len <= MAX_PAYLOAD_LENGTH:
                raise EventStreamError(f"event stream message with impossible lengths ({total}, {headers_len})")
            if len(self._buffer) < total:
                break
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = struct.unpack_from("!I", frame, total - _TRAILER)
            if zlib.crc32(frame[: total - _TRAILER]) != message_crc:
                raise EventStreamError("event stream message CRC mismatch")
            headers = _decode_headers(frame[_PRELUDE : _PRELUDE + headers_len])
            messages.append(EventStreamMessage(headers, frame[_PRELUDE + headers_len : total - _TRAILER]))
        return messages


def _decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    pos = 0
    try:
        while pos < len(data):
            name_len = data[pos]
            name = data[pos + 1 : pos + 1 + name_len].decode("utf-8")
            pos += 1 + name_len
            kind = data[pos]
            pos += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _INTS:
                fmt, size = _INTS[kind]
                (value,) = struct.unpack_from(fmt, data, pos)
                pos += size
            elif kind in (6, 7):
                (length,) = struct.unpack_from("!H", data, pos)
                raw = data[pos + 2 : pos + 2 + length]
                value = raw.decode("utf-8") if kind == 7 else raw
                pos += 2 + length
            elif kind == 9:
                value = uuid.UUID(bytes=data[pos : pos + 16])
                pos += 16
            else:
                raise EventStreamError(f"unknown event stream header type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed event stream headers: {exc}") from None
    return headers


def _encode_header(name: str, value: HeaderValue) -> bytes:
    raw_name = name.encode("utf-8")
    head = struct.pack("!B", len(raw_name)) + raw_name
    if isinstance(value, bool):
        return head + (b"\x00" if value else b"\x01")
    if isinstance(value, int):
        return head + b"\x04" + struct.pack("!i", value)  # int32: what the services send
    if isinstance(value, uuid.UUID):
        return head + b"\x09" + value.bytes
    if isinstance(value, bytes):
        return head + b"\x06" + struct.pack("!H", len(value)) + value
    raw = value.encode("utf-8")
    return head + b"\x07" + struct.pack("!H", len(raw)) + raw


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One framed message (the inverse of ``EventStreamDecoder``; used by fakes and tests)."""
    header_bytes = b"".join(_encode_header(name, value) for name, value in headers.items())
    prelude = struct.pack("!II", _PRELUDE + len(header_bytes) + len(payload) + _TRAILER, len(header_bytes))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + header_bytes + payload
    return message + struct.pack("!I", zlib.crc32(message))
