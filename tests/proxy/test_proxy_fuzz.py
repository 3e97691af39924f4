"""Random bodies against the model routes, in-process: never a 5xx, and every error in the OpenAI envelope.

Bodies are valid JSON of random shapes (scalars, lists, nested junk), chat-like objects with junk values, and raw
bytes (malformed JSON, invalid UTF-8). Model names include mock models, so some bodies reach a provider call.
Bounded to a few hundred examples so it runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tollway.proxy.app import create_app
from tollway.proxy.gateway_config import GatewayConfig

KEY = "sk-test-master-key-0123456789"
PATHS = ("/v1/chat/completions", "/v1/embeddings", "/chat/completions", "/embeddings")


def _encode(value: Any) -> bytes:
    # The stdlib encoder: big integers are valid JSON (orjson refuses to write them; the gateway must read them).
    return json.dumps(value).encode()


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
junk = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4))
models = st.sampled_from(["mock/x", "mock/embed", "nope"]) | st.text(max_size=12) | junk
messages = (
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "role": st.sampled_from(["user", "system", "assistant", "tool"]) | junk,
                "content": st.text() | junk,
                "name": junk,
            },
        ),
        max_size=3,
    )
    | junk
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "model": models,
        "messages": messages,
        "input": st.text() | st.lists(st.text(), max_size=3) | junk,
        "stream": st.booleans() | junk,
        "max_tokens": st.integers(-5, 50) | junk,
        "mock_response": st.text(max_size=20) | junk,
        "temperature": junk,
        "stream_options": junk,
        "tools": junk,
        "user": junk,
    },
)
bodies = junk.map(_encode) | shaped.map(_encode) | st.binary(max_size=64)


def check_answer(path: str, body: bytes, response: httpx.Response) -> None:
    assert response.status_code < 500, (path, body, response.status_code, response.text)
    if response.status_code >= 400:
        envelope = response.json()
        assert set(envelope) == {"error"}, envelope
        assert set(envelope["error"]) == {"message", "type", "param", "code"}, envelope
        assert isinstance(envelope["error"]["message"], str)
        assert "Traceback" not in response.text


def test_random_bodies_never_break_the_gateway() -> None:
    config = GatewayConfig(
        model_list=({"model_name": "mock/*", "litellm_params": {"model": "mock/*"}},), master_key=KEY
    )
    app = create_app(config, environ={})
    loop = asyncio.new_event_loop()
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway", headers=headers)

    async def post(path: str, body: bytes) -> httpx.Response:
        return await client.post(path, content=body)

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(path=st.sampled_from(PATHS), body=bodies)
    # Found by this test: a non-string role reached ``role not in ROLES`` in tollway.messages (TypeError, 500).
    @example(path="/v1/chat/completions", body=b'{"model": "mock/x", "messages": [{"role": []}]}')
    def check(path: str, body: bytes) -> None:
        check_answer(path, body, loop.run_until_complete(post(path, body)))

    try:
        check()
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(app.state.router.aclose())
        loop.close()


def test_the_checker_rejects_a_server_error() -> None:
    """The property can fail: a 500 or a body outside the envelope is caught."""
    bad: list[Any] = [
        httpx.Response(500, json={"error": {"message": "x", "type": "server_error", "param": None, "code": None}}),
        httpx.Response(400, json={"detail": "x"}),
    ]
    for response in bad:
        try:
            check_answer("/v1/chat/completions", b"{}", response)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {response}")
