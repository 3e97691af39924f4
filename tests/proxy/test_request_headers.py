"""``headers_of``: one dict per request, the same answers as Starlette's ``Headers.get``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from tollway.proxy.request_headers import headers_of


def request(headers: list[tuple[bytes, bytes]]) -> Request:
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope)


def test_answers_as_starlette_does_first_value_of_a_repeated_name() -> None:
    raw = [(b"authorization", b"Bearer first"), (b"x-request-id", b"abc"), (b"authorization", b"Bearer second")]
    made = request(raw)
    headers = headers_of(made)
    for name in ("authorization", "x-request-id", "content-length"):
        assert headers.get(name) == made.headers.get(name)
    assert headers["authorization"] == "Bearer first"


def test_built_once_per_request_and_latin_1_decoded() -> None:
    made = request([(b"x-tollway-feature", "caf\u00e9".encode("latin-1"))])
    assert headers_of(made) is headers_of(made)
    assert headers_of(made)["x-tollway-feature"] == "caf\u00e9"
    assert headers_of(request([])) == {}
