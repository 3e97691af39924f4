"""Shallow request validation: malformed messages give a BadRequestError naming the field."""

from typing import Any

import pytest

import tollway
from tollway.messages import content_text, parse_data_url, validate_chat_request


def req(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **fields}


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        (req(model=""), "model"),
        (req(messages=[]), "messages"),
        (req(messages="hello"), "messages"),
        (req(messages=["hello"]), "messages[0]"),
        (req(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
        (req(messages=[{"content": "x"}]), "messages[0].role"),
        (req(messages=[{"role": ["user"], "content": "x"}]), "messages[0].role"),
        (req(messages=[{"role": {"user": 1}, "content": "x"}]), "messages[0].role"),
        (req(messages=[{"role": "user"}]), "messages[0].content"),
        (req(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
        (req(messages=[{"role": "user", "content": [{"text": "no type"}]}]), "messages[0].content[0]"),
        (req(messages=[{"role": "assistant", "content": None}]), "messages[0].content"),
        (req(messages=[{"role": "tool", "content": "r"}]), "messages[0].tool_call_id"),
        (
            req(messages=[{"role": "assistant", "content": None, "tool_calls": [{"id": "a"}]}]),
            "messages[0].tool_calls[0]",
        ),
        (
            req(
                messages=[
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"id": "a", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}
                        ],
                    }
                ]
            ),
            "messages[0].tool_calls[0].function.arguments",
        ),
        (req(stream="yes"), "stream"),
        (req(stream_options={"include_usage": True}), "stream_options"),
    ],
)
def test_malformed_requests(request_: dict[str, Any], param: str) -> None:
    with pytest.raises(tollway.BadRequestError) as info:
        validate_chat_request(request_)
    assert info.value.param == param


def test_valid_tool_loop_passes() -> None:
    validate_chat_request(
        req(
            messages=[
                {"role": "system", "content": "s"},
                {"role": "user", "content": [{"type": "text", "text": "t"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "a", "content": "r"},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
    )


def test_content_text_and_data_urls() -> None:
    assert content_text([{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}]) == "a\nb"
    assert content_text(None) == ""
    parsed = parse_data_url("data:image/PNG;base64,iVBORw0KGgo=")
    assert (parsed.media_type, parsed.data) == ("image/png", "iVBORw0KGgo=")
    with pytest.raises(tollway.BadRequestError, match="data:<type>;base64"):
        parse_data_url("http://example.com/a.png")
    with pytest.raises(tollway.BadRequestError, match="not base64"):
        parse_data_url("data:image/png;base64,@@@@")
