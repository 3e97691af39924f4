"""``ResultResponse`` builds its headers itself (the model answers' hot path): the same headers Starlette's
``Response`` would send for the same body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from starlette.responses import Response, StreamingResponse

from tollway.pricing.cost import Cost
from tollway.proxy.responses import ResultResponse, SSEResponse, meta_headers, result_response
from tollway.types import ResponseMeta


def test_result_headers_are_what_starlette_would_send() -> None:
    body = b'{"id": "x", "text": "h\xc3\xa9"}'
    headers = {"x-request-id": "abc", "X-Tollway-Cost": "0.000001", "x-ratelimit-remaining-requests": "9"}
    encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    ours = ResultResponse(body, 201, encoded, None)
    theirs = Response(body, status_code=201, headers=headers, media_type="application/json")
    assert sorted(ours.raw_headers) == sorted(theirs.raw_headers)
    assert (ours.status_code, ours.body, ours.background, ours.meta) == (201, body, None, None)
    assert ours.headers["content-length"] == str(len(body))


def _starlette(headers: dict[str, str], *, stream: bool = False) -> list[tuple[bytes, bytes]]:
    """The raw headers Starlette would send for ``headers`` (what the routes sent before they encoded their own)."""
    if stream:

        async def nothing() -> AsyncIterator[bytes]:
            yield b""

        return StreamingResponse(
            nothing(), headers={"cache-control": "no-cache", **headers}, media_type="text/event-stream"
        ).raw_headers
    return Response(b"{}", headers=headers, media_type="application/json").raw_headers


def _meta(**fields: Any) -> ResponseMeta:
    total = Decimal("0.0000072")
    cost = Cost(total, total, Decimal(0), Decimal(0), (), "genai-prices", None, None)
    return ResponseMeta("openai", "gpt-4o-mini", **({"cost": cost} | fields))


RATE = [(b"x-ratelimit-limit-requests", b"100"), (b"x-ratelimit-remaining-requests", b"99")]
RATE_TEXT = {"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "99"}


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (None, {"x-request-id": "r1"}),
        (_meta(), {"x-request-id": "r1", "x-tollway-model": "openai/gpt-4o-mini", "x-tollway-cost": "0.0000072"}),
        (
            _meta(cost=None, deployment_id="dep-é", cache_hit=True),
            {
                "x-request-id": "r1",
                "x-tollway-model": "dep-é",
                "x-tollway-cost": "unpriced",
                "x-tollway-cache-hit": "true",
            },
        ),
    ],
)
def test_a_model_answer_sends_what_starlette_sent_for_its_header_dict(
    meta: ResponseMeta | None, expected: dict[str, str]
) -> None:
    response = result_response({}, meta, "r1", extra=RATE)
    assert sorted(response.raw_headers) == sorted(_starlette(expected | RATE_TEXT))
    assert response.meta is meta


def test_a_model_name_that_is_not_latin_1_does_not_fail_the_answer() -> None:
    response = result_response({}, _meta(deployment_id="модель-é"), "r1")
    assert (b"x-tollway-model", b"??????-\xe9") in response.raw_headers


def test_a_stream_sends_what_starlette_sent_for_its_header_dict() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: [DONE]\n\n"

    response = SSEResponse(chunks(), [*meta_headers(_meta(), "r1", cost=False), *RATE])
    expected = {"x-request-id": "r1", "x-tollway-model": "openai/gpt-4o-mini"} | RATE_TEXT
    assert response.raw_headers == _starlette(expected, stream=True)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
