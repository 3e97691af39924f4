"""SSE decoding: framing rules of ../shared/PROVIDERS.md §0, whatever way the bytes are split."""

import random

import pytest

from tollway.sse import ServerSentEvent, SSEDecoder

STREAM = (
    b": keep-alive\n\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b'data:{"no":"space"}\n\n'
    b"data: line one\ndata: line two\n\n"
    b"id: 7\nretry: 10\ndata: [DONE]\n\n"
)
EXPECTED = [
    ServerSentEvent("message_start", '{"a": 1}'),
    ServerSentEvent("", '{"no":"space"}'),
    ServerSentEvent("", "line one\nline two"),
    ServerSentEvent("", "[DONE]"),
]


def decode(pieces: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    return events + decoder.flush()


def test_whole_stream() -> None:
    assert decode([STREAM]) == EXPECTED


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_other_line_endings(newline: bytes) -> None:
    assert decode([STREAM.replace(b"\n", newline)]) == EXPECTED


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_byte_by_byte(newline: bytes) -> None:
    data = STREAM.replace(b"\n", newline)
    assert decode([data[i : i + 1] for i in range(len(data))]) == EXPECTED


def test_random_splits() -> None:
    rng = random.Random(7)
    data = STREAM.replace(b"\n", b"\r\n")
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), 6))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert decode(pieces) == EXPECTED


def test_event_without_final_blank_line_is_flushed() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: tail") == []
    assert decoder.flush() == [ServerSentEvent("", "tail")]


def test_event_name_resets_after_each_event() -> None:
    assert decode([b"event: a\ndata: 1\n\ndata: 2\n\n"]) == [ServerSentEvent("a", "1"), ServerSentEvent("", "2")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode([b"data: \xff\xfe\n\n"]) == [ServerSentEvent("", "\ufffd\ufffd")]


def test_oversized_line_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tollway.sse.MAX_EVENT_BYTES", 10)
    with pytest.raises(ValueError, match="exceeds"):
        SSEDecoder().feed(b"data: " + b"x" * 20)


def test_data_fast_path_matches_generic_field_parsing() -> None:
    # "data: x" takes a shortcut in feed(); the generic forms ("data:x", a named event, several data lines, a
    # comment between them) must decode to the same events as before.
    stream = b"data: a\n\ndata:b\n\nevent: e\ndata: c\n: keep-alive\ndata:  d\n\ndata: \n\n"
    decoder = SSEDecoder()
    assert decoder.feed(stream) == [
        ServerSentEvent("", "a"),
        ServerSentEvent("", "b"),
        ServerSentEvent("e", "c\n d"),
        ServerSentEvent("", ""),
    ]
    assert decoder.feed(b"data: after\n\n") == [ServerSentEvent("", "after")]
