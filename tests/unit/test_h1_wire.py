"""The h1 transport's request bytes and URL handling (no sockets): what goes on the wire for each request."""

import zlib

import pytest

import tollway
from tollway.transport.h1_wire import Origin, decoder_for, encode_request


def test_origins_of_urls() -> None:
    plain = Origin.of("http://api.example.com/v1/chat/completions")
    assert (plain.tls, plain.host, plain.port, plain.target, plain.authority) == (
        False,
        "api.example.com",
        80,
        "/v1/chat/completions",
        "api.example.com",
    )
    assert plain.key == (False, "api.example.com", 80)
    tls = Origin.of("https://API.example.com:8443/v1/models?limit=2&after=x#frag")
    assert (tls.tls, tls.host, tls.port, tls.target, tls.authority) == (
        True,
        "api.example.com",
        8443,
        "/v1/models?limit=2&after=x",
        "api.example.com:8443",
    )
    assert Origin.of("https://api.example.com:443").target == "/"
    assert Origin.of("https://api.example.com:443").authority == "api.example.com"
    v6 = Origin.of("http://[::1]:9000/v1")
    assert (v6.host, v6.port, v6.authority) == ("::1", 9000, "[::1]:9000")
    # An adapter's URL is already encoded (a signed path keeps its %3A); only what is not ASCII is escaped.
    assert Origin.of("https://h/model/a%3Ab/invoke").target == "/model/a%3Ab/invoke"
    assert Origin.of("https://h/models/modèle x").target == "/models/mod%C3%A8le%20x"


@pytest.mark.parametrize("url", ["ftp://h/x", "http:///nohost", "http://h:99999/x", "unix:/run/x.sock", "h/x"])
def test_urls_that_cannot_be_requested(url: str) -> None:
    with pytest.raises(tollway.APIConnectionError, match="cannot request"):
        Origin.of(url)


def test_a_request_as_bytes() -> None:
    origin = Origin.of("http://127.0.0.1:9000/v1/chat/completions")
    raw = encode_request("POST", origin, {"authorization": "Bearer k", "content-type": "application/json"}, b"{}")
    head, body = raw.split(b"\r\n\r\n")
    assert body == b"{}"
    assert head.split(b"\r\n") == [
        b"POST /v1/chat/completions HTTP/1.1",
        b"host: 127.0.0.1:9000",
        b"authorization: Bearer k",
        b"content-type: application/json",
        b"user-agent: tollway/" + tollway.__version__.encode(),
        b"accept-encoding: gzip, deflate",
        b"content-length: 2",
    ]
    empty_post = encode_request("POST", origin, {}, b"")
    assert empty_post.endswith(b"content-length: 0\r\n\r\n")
    get = encode_request("GET", origin, {}, b"")
    assert get.endswith(b"accept-encoding: gzip, deflate\r\n\r\n")
    assert b"content-length" not in get


def test_the_callers_own_headers_win_except_framing() -> None:
    origin = Origin.of("https://api.example.com/v1")
    raw = encode_request(
        "POST",
        origin,
        {
            "User-Agent": "mine/1",
            "Accept-Encoding": "identity",
            "HOST": "evil",
            "Transfer-Encoding": "chunked",
            "x-forwarded-host": "kept",
        },
        b"xyz",
    )
    lines = raw.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert lines[1] == b"host: api.example.com"
    assert b"User-Agent: mine/1" in lines
    assert b"Accept-Encoding: identity" in lines
    assert b"x-forwarded-host: kept" in lines
    assert not any(line.lower().startswith((b"user-agent: tollway", b"accept-encoding: gzip")) for line in lines)
    assert sum(line.lower().startswith(b"host:") for line in lines) == 1
    assert not any(line.lower().startswith(b"transfer-encoding") for line in lines)
    assert lines[-1] == b"content-length: 3"


@pytest.mark.parametrize(
    "headers",
    [
        {"x": "1\r\nx-injected: 1"},
        {"x\r\ninjected": "1"},
        {"x": "a\nb"},
        {"x": "a\rb"},
        {"x": "\r\n\r\nGET / HTTP/1.1"},
    ],
)
def test_line_breaks_in_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(tollway.APIConnectionError, match="line breaks"):
        encode_request("POST", Origin.of("http://h/x"), headers, b"")


def test_a_method_with_a_line_break_is_refused() -> None:
    with pytest.raises(tollway.APIConnectionError, match="line breaks"):
        encode_request("GET / HTTP/1.1\r\nx: y\r\nPOST", Origin.of("http://h/x"), {}, b"")


def test_decoders() -> None:
    data = b"hello " * 50
    gz = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    packed = gz.compress(data) + gz.flush()
    decoder = decoder_for(" GZIP ")
    assert decoder is not None
    assert decoder.decompress(packed) + decoder.flush() == data
    deflate = decoder_for("deflate")
    assert deflate is not None
    assert deflate.decompress(zlib.compress(data)) == data
    assert decoder_for(None) is None
    assert decoder_for("br") is None
    assert decoder_for("identity") is None
