"""Incremental Server-Sent Events decoding (pure).

Follows the WHATWG rules that providers rely on (../shared/PROVIDERS.md §0): events end at a blank line;
``data:`` lines join with ``\\n``; the space after the colon is optional; ``:`` lines are comments
(keep-alives); ``\\n``, ``\\r\\n`` and ``\\r`` all end a line, even when split across network reads.

``feed``/``flush`` return ``ServerSentEvent`` values; ``feed_data``/``flush_data`` return only each event's data as
bytes, for decoders that ignore event names and hand the data straight to orjson (no text decoding, no event object
per token).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent"]

# An event larger than this is not a model streaming tokens: refuse it rather than buffer without bound.
MAX_EVENT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One decoded event: its name ("" when the stream did not name it) and its data text."""

    event: str
    data: str


def _text(data: bytes) -> str:
    # Decoding the joined data equals decoding each line and joining: "\n" is ASCII and ends any broken sequence.
    return data.decode("utf-8", errors="replace")


class SSEDecoder:
    """Feed bytes as they arrive; get back the events completed so far."""

    __slots__ = ("_buffer", "_data", "_event", "_pending_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[bytes] = []
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk``; return every event it completed."""
        return [ServerSentEvent(name, _text(data)) for name, data in self._feed(chunk)]

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """Like ``feed``, but only the data of each completed event, undecoded (event names are dropped)."""
        return [data for _name, data in self._feed(chunk)]

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: return an event left without its closing blank line, if any."""
        return [ServerSentEvent(name, _text(data)) for name, data in self._flush()]

    def flush_data(self) -> list[bytes]:
        """Like ``flush``, but only the data, undecoded."""
        return [data for _name, data in self._flush()]

    def _feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the "\n" of a "\r\n" split across two reads
        self._pending_cr = chunk.endswith(b"\r")
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._buffer = buffer.split(b"\n")
        if len(self._buffer) > MAX_EVENT_BYTES:
            raise ValueError("server-sent event line exceeds 16 MiB")
        events: list[tuple[str, bytes]] = []
        data = self._data
        for raw in lines:
            # Per-line fast path: almost every line of a model's stream is "data: {...}" (one per token), so it is
            # recognised here without the generic field parsing of ``_line`` (measured: a third of the decoder's
            # time per event went to that call).
            if raw.startswith(b"data: "):
                data.append(raw[6:])
                continue
            if not raw and data:
                # The blank line ending an event. One data line per event is the rule for model streams: no join.
                events.append((self._event, data[0] if len(data) == 1 else b"\n".join(data)))
                self._event = ""
                data = self._data = []
                continue
            self._line(raw)
        return events

    def _flush(self) -> list[tuple[str, bytes]]:
        events = self._feed(b"\n") if self._buffer else []
        if self._data:
            events.append((self._event, b"\n".join(self._data)))
        self._event, self._data = "", []
        return events

    def _line(self, raw: bytes) -> None:
        if not raw:  # a blank line with no data: the event (if named) is dropped, as WHATWG says
            self._event = ""
            return
        if raw[0] == 58:  # b":" — a comment, used as keep-alive
            return
        name, sep, value = raw.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = _text(value)
