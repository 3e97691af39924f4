"""``ResultResponse`` builds its headers itself (the model answers' hot path): the same headers Starlette's
``Response`` would send for the same body."""

from __future__ import annotations

from starlette.responses import Response

from tollway.proxy.responses import ResultResponse


def test_result_headers_are_what_starlette_would_send() -> None:
    body = b'{"id": "x", "text": "h\xc3\xa9"}'
    headers = {"x-request-id": "abc", "X-Tollway-Cost": "0.000001", "x-ratelimit-remaining-requests": "9"}
    ours = ResultResponse(body, 201, headers, None)
    theirs = Response(body, status_code=201, headers=headers, media_type="application/json")
    assert sorted(ours.raw_headers) == sorted(theirs.raw_headers)
    assert (ours.status_code, ours.body, ours.background, ours.meta) == (201, body, None, None)
    assert ours.headers["content-length"] == str(len(body))
