"""Random requests against every model route, in-process: never a 5xx, and every error in the route's envelope
(OpenAI's, or Anthropic's on ``/v1/messages`` and ``/v1/messages/count_tokens``), as JSON.

Most bodies are the route's valid request with one to three fields set to random values (the request fields of the
route's family and the SDK options a client may send beside them: ``timeout``, ``num_retries``, ``mock_response``...),
so they get deep into the gateway; the rest are junk JSON, junk objects and raw bytes (malformed JSON, invalid UTF-8).
Models are mock groups (chat, embeddings) and a rerank group on the loopback Cohere fake, so valid requests reach a
provider. The Azure-style paths get random deployment names; methods are mostly POST, sometimes one the route does
not allow. Derandomized and bounded to a few hundred examples: the same requests on every run, in a few seconds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from fakes.cohere import CohereFake
from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

KEY = "sk-test-master-key-0123456789"
ROUTES = (
    "/v1/chat/completions",
    "/chat/completions",
    "/v1/completions",
    "/completions",
    "/v1/embeddings",
    "/embeddings",
    "/v1/rerank",
    "/rerank",
    "/openai/deployments/{model}/chat/completions",
    "/openai/deployments/{model}/embeddings",
    "/v1/messages",
    "/v1/messages/count_tokens",
)


def gateway(cohere_url: str) -> Starlette:
    """Mock chat and embedding groups, and a rerank group on the loopback Cohere fake (the mock has no rerank)."""
    rerank = {"model": "cohere/rerank-v3.5", "api_base": cohere_url, "api_key": "co-test", "num_retries": 0}
    model_list = (
        {"model_name": "fuzz-chat", "litellm_params": {"model": "mock/chat"}},
        {"model_name": "fuzz-embed", "litellm_params": {"model": "mock/embed"}, "model_info": {"mode": "embedding"}},
        {"model_name": "fuzz-rerank", "litellm_params": rerank},
        {"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},
    )
    return create_app(GatewayConfig(model_list=model_list, master_key=KEY), environ={})


def _encode(value: Any) -> bytes:
    # The stdlib encoder: big integers are valid JSON (orjson refuses to write them; the gateway must read them).
    return json.dumps(value).encode()


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4))
names = st.sampled_from(["fuzz-chat", "fuzz-embed", "fuzz-rerank", "mock/x", "mock/embed", "nope"])
models = names | st.text(max_size=12) | junk
# Words the gateway compares against (types, roles, efforts), so junk sits beside values it recognises.
words = st.sampled_from(["text", "image", "document", "tool_use", "tool_result", "thinking", "auto", "any", "tool"])
words |= st.sampled_from(["none", "enabled", "adaptive", "json_schema", "base64", "url", "low", "high", "user"])


def objects(*keys: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with some of ``keys`` (the ones the gateway reads), each a known word or junk."""
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, words | junk))


# Content in both wire formats: OpenAI parts and Anthropic blocks, with junk inside.
block = objects("type", "text", "source", "image_url", "id", "name", "input", "tool_use_id", "content", "cache_control")
block |= st.fixed_dictionaries({"type": words, "source": objects("type", "media_type", "data", "url")})
content = st.text() | st.lists(block, max_size=3) | junk
message = objects("role", "content", "name", "tool_calls", "tool_call_id")
message |= st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool"]), "content": content})
messages = st.lists(message, max_size=3) | junk
# A scripted mock answer: text, or an object that may script an upstream error (a 5xx the gateway relays).
mock_response = st.text(max_size=20) | st.fixed_dictionaries(
    {},
    optional={
        "content": junk,
        "status": st.sampled_from([200, 400, 429, 503]) | junk,
        "headers": st.fixed_dictionaries({"retry-after": st.sampled_from(["0", "-5", "abc", "1e400"])}) | junk,
        "tool_calls": junk,
        "finish_reason": junk,
    },
)
# Fields per request family: a valid request of the route gets one to three of its family's fields replaced.
COMMON: dict[str, st.SearchStrategy[Any]] = {
    "model": models,
    "stream": st.booleans() | junk,
    "user": junk,
    "metadata": objects("user_id", "tags") | junk,
    "mock_response": mock_response | junk,
    # SDK options the router reads from the body: junk here must be a 400, never a crash.
    "timeout": junk,
    "num_retries": junk,
    "fallbacks": junk,
    "drop_params": junk,
}
OPENAI: dict[str, st.SearchStrategy[Any]] = {
    "messages": messages,
    "max_tokens": st.integers(-5, 50) | junk,
    "temperature": junk,
    "stream_options": objects("include_usage") | junk,
    "tools": junk,
    "tool_choice": words | objects("type", "function") | junk,
    "response_format": objects("type", "json_schema") | junk,
    "n": junk,
    "prompt": st.text() | st.lists(st.text(), max_size=2) | junk,
    "echo": junk,
    "input": st.text() | st.lists(st.text(), max_size=3) | st.lists(st.integers(), max_size=3) | junk,
    "encoding_format": st.sampled_from(["float", "base64"]) | junk,
    "dimensions": junk,
    "query": st.text() | junk,
    "documents": st.lists(st.text() | junk, max_size=3) | junk,
    "top_n": junk,
    "return_documents": junk,
}
ANTHROPIC: dict[str, st.SearchStrategy[Any]] = {
    "messages": messages,
    "max_tokens": st.integers(-5, 50) | junk,
    "system": st.text() | st.lists(block, max_size=2) | junk,
    "stop_sequences": junk,
    "temperature": junk,
    "top_k": junk,
    "tools": st.lists(objects("type", "name", "input_schema", "description"), max_size=2) | junk,
    "tool_choice": objects("type", "name", "disable_parallel_tool_use") | junk,
    "thinking": objects("type", "budget_tokens") | junk,
    "output_config": objects("effort", "format") | st.fixed_dictionaries({"format": objects("type", "schema")}),
    "cache_control": objects("type") | junk,
}
shaped = st.fixed_dictionaries({}, optional=COMMON | OPENAI | ANTHROPIC)
# A valid request per route (matched on the end of its path): the bodies that get furthest into the gateway.
VALID: dict[str, dict[str, Any]] = {
    "chat/completions": {"model": "fuzz-chat", "messages": [{"role": "user", "content": "hi"}]},
    "/completions": {"model": "fuzz-chat", "prompt": "hi"},
    "embeddings": {"model": "fuzz-embed", "input": "hi"},
    "rerank": {"model": "fuzz-rerank", "query": "q", "documents": ["a", "b"]},
    "/v1/messages": {"model": "fuzz-chat", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    "count_tokens": {"model": "fuzz-chat", "messages": [{"role": "user", "content": "hi"}]},
}


def valid_body(route: str) -> dict[str, Any]:
    """The valid request for ``route``."""
    return next(body for suffix, body in VALID.items() if route.endswith(suffix))


def perturbed(route: str) -> st.SearchStrategy[bytes]:
    """``route``'s valid request, unchanged or with one to three of its family's fields set to random values."""
    family = COMMON | (ANTHROPIC if route.startswith("/v1/messages") else OPENAI)
    field = st.sampled_from(sorted(family)).flatmap(lambda name: family[name].map(lambda value: (name, value)))
    changes = st.lists(field, max_size=3).map(dict)
    return st.builds(lambda changed: _encode({**valid_body(route), **changed}), changes)


def bodies(route: str) -> st.SearchStrategy[bytes]:
    """Mostly a valid request with a few fields wrong; sometimes junk JSON, a junk object or raw bytes."""
    other = junk.map(_encode) | shaped.map(_encode) | st.binary(max_size=64)
    return st.one_of(perturbed(route), perturbed(route), perturbed(route), other)


deployments = st.sampled_from(["fuzz-chat", "fuzz-embed"]) | names | st.text(max_size=8)


def path_of(route: str, deployment: str) -> str:
    """``route`` with a deployment name (percent-encoded) in place of ``{model}`` (the Azure-style paths)."""
    return route.replace("{model}", quote(deployment, safe=""))


requests = st.sampled_from(ROUTES).flatmap(
    lambda route: st.tuples(st.builds(path_of, st.just(route), deployments), bodies(route))
)
methods = st.sampled_from(["POST"] * 8 + ["GET", "PUT"])


ANTHROPIC_OK = _encode(VALID["/v1/messages"])
MOCK_STATUS = (
    b'{"model": "fuzz-chat", "messages": [{"role": "user", "content": "x"}], "mock_response": {"status": "x"}}'
)
EMPTY_CONTENT = (
    b'{"model": "mock/x", "max_tokens": 5, "messages": [{"role": "user", "content": []}], "cache_control": {}}'
)


def scripted_server_error(body: bytes) -> bool:
    """Whether ``body`` asked the mock upstream for a 5xx (which the gateway relays: not the gateway's fault)."""
    try:
        script = json.loads(body).get("mock_response")
    except (ValueError, AttributeError):
        return False
    status = script.get("status") if isinstance(script, dict) else None
    return isinstance(status, int) and status >= 500


def check_answer(path: str, body: bytes, response: httpx.Response) -> None:
    """No 5xx (unless the body scripted one), and a JSON error envelope of the route's API for every error."""
    if not scripted_server_error(body):
        assert response.status_code < 500, (path, body, response.status_code, response.text)
    if response.status_code < 400:
        return
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert "Traceback" not in response.text
    envelope = response.json()
    if path.startswith("/v1/messages"):
        assert set(envelope) == {"type", "error"}, envelope
        assert envelope["type"] == "error"
        assert set(envelope["error"]) == {"type", "message"}, envelope
    else:
        assert set(envelope) == {"error"}, envelope
        assert set(envelope["error"]) == {"message", "type", "param", "code"}, envelope
    assert isinstance(envelope["error"]["message"], str)
    assert isinstance(envelope["error"]["type"], str)


def client_of(app: Starlette) -> httpx.AsyncClient:
    """An in-process client of ``app`` with the master key."""
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway", headers=headers)


@pytest.mark.parametrize("route", ROUTES)
async def test_the_valid_request_of_each_route_goes_through(route: str, cohere_fake: CohereFake) -> None:
    """The fuzzer's premise: its unperturbed request of every route reaches a provider and is answered."""
    app = gateway(cohere_fake.url)
    async with client_of(app) as client:
        response = await client.post(
            path_of(route, "fuzz-embed" if "embed" in route else "fuzz-chat"), json=valid_body(route)
        )
    await app.state.router.aclose()
    assert response.status_code == 200, response.text


def test_random_requests_never_break_the_gateway(cohere_fake: CohereFake) -> None:
    app = gateway(cohere_fake.url)
    loop = asyncio.new_event_loop()
    client = client_of(app)

    async def send(method: str, path: str, body: bytes) -> httpx.Response:
        return await client.request(method, path, content=body)

    @settings(
        max_examples=400,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
        derandomize=True,  # the same requests on every run: CI is reproducible
    )
    @given(method=methods, request=requests)
    # Found by this test: a non-string role reached ``role not in ROLES`` in tollway.messages (TypeError, 500).
    @example(method="POST", request=("/v1/chat/completions", b'{"model": "mock/x", "messages": [{"role": []}]}'))
    # Found by the schemathesis test: only empty content lists, plus a top-level cache_control (IndexError, 500).
    @example(method="POST", request=("/v1/messages", EMPTY_CONTENT))
    # Found by this test: 'messages' on /completions collided with the prompt's message (TypeError, 500).
    @example(method="POST", request=("/v1/completions", b'{"model": "fuzz-chat", "prompt": "hi", "messages": []}'))
    # Found by this test: junk timeout, mock status, dimensions (float(), int() on the client's value: 500s).
    @example(method="POST", request=("/v1/embeddings", b'{"model": "fuzz-embed", "input": "x", "timeout": {}}'))
    @example(method="POST", request=("/v1/embeddings", b'{"model": "fuzz-embed", "input": "x", "dimensions": [1]}'))
    @example(method="POST", request=("/chat/completions", MOCK_STATUS))
    # Found by both fuzzers: an unhashable tool_choice type or effort (``x in frozenset``: TypeError, 500).
    @example(method="POST", request=("/v1/messages", ANTHROPIC_OK[:-1] + b', "tool_choice": {"type": {}}}'))
    @example(method="POST", request=("/v1/messages", ANTHROPIC_OK[:-1] + b', "output_config": {"effort": []}}'))
    def check(method: str, request: tuple[str, bytes]) -> None:
        path, body = request
        check_answer(path, body, loop.run_until_complete(send(method, path, body)))

    try:
        check()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(app.state.router.aclose())
        loop.close()


def test_the_checker_rejects_a_server_error() -> None:
    """The property can fail: a 500, a body outside the route's envelope, or a non-JSON error is caught."""
    openai = {"error": {"message": "x", "type": "invalid_request_error", "param": None, "code": None}}
    anthropic = {"type": "error", "error": {"type": "invalid_request_error", "message": "x"}}
    bad: list[tuple[str, httpx.Response]] = [
        ("/v1/chat/completions", httpx.Response(500, json=openai)),
        ("/v1/chat/completions", httpx.Response(400, json={"detail": "x"})),
        ("/v1/chat/completions", httpx.Response(400, json=anthropic)),
        ("/v1/messages", httpx.Response(400, json=openai)),
        ("/v1/messages/count_tokens", httpx.Response(502, json=anthropic)),
        ("/v1/embeddings", httpx.Response(405, text="Method Not Allowed")),
    ]
    for path, response in bad:
        try:
            check_answer(path, b"{}", response)
        except (AssertionError, ValueError, KeyError):
            continue
        raise AssertionError(f"accepted {response} on {path}")
    check_answer("/v1/messages", b"{}", httpx.Response(400, json=anthropic))
    check_answer("/rerank", b"{}", httpx.Response(404, json=openai))
