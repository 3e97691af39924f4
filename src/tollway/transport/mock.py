"""The built-in mock provider: an in-process upstream speaking OpenAI's wire format for ``mock://`` URLs.

``model="mock/<anything>"`` and ``mock_response=`` on any call reach this transport instead of the network, so the
whole pipeline (adapter, streaming decoder, retries, error mapping, usage) runs as for a real provider: useful for
demos, tests of code built on tollway and load tests of the gateway. Every answer is marked as a mock:
``system_fingerprint: "tollway-mock"`` and an id starting ``chatcmpl-mock-``.

``mock_response`` may be a string (the answer's text) or an object with any of ``content``, ``tool_calls``
(OpenAI shape), ``finish_reason``, and, to rehearse failures, ``status`` (an HTTP error status),
``error`` (its message) and ``headers`` (e.g. ``{"retry-after": "1"}``).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from tollway.http import HttpRequest
from tollway.transport import Timeouts

__all__ = ["MOCK_FINGERPRINT", "MockUpstream"]

MOCK_FINGERPRINT = "tollway-mock"
DEFAULT_TEXT = "This is a mock response from tollway."
# Above every real embedding model's: a client's ``dimensions`` cannot make the mock allocate more.
_MAX_DIMENSIONS = 4096
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
    500: "server_error",
    503: "server_error",
}


class _MockResponse:
    __slots__ = ("_body", "_chunks", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes, chunks: list[bytes] | None = None):
        self.status = status
        self.headers = headers
        self._body = body
        self._chunks = chunks

    async def read(self) -> bytes:
        return self._body if self._chunks is None else b"".join(self._chunks)

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks if self._chunks is not None else [self._body]:
            yield chunk

    async def aclose(self) -> None:
        return None


def _estimate_tokens(value: Any) -> int:
    # About four characters a token: a mock needs plausible counts, not exact ones.
    return max(1, len(orjson.dumps(value)) // 4)


class MockUpstream:
    """A transport answering OpenAI chat and embeddings requests in-process."""

    async def send(self, request: HttpRequest, timeouts: Timeouts) -> _MockResponse:
        """Answer ``request`` as OpenAI would (or with the scripted error)."""
        body = orjson.loads(request.body) if request.body else {}
        if request.url.endswith("/embeddings"):
            size = body.get("dimensions") or 8
            if not _is_int(size, 1, _MAX_DIMENSIONS):
                # The caller's mistake (a gateway client's body): a bad request, not a crash or a huge vector.
                return _json(400, _envelope(400, f"'dimensions' must be an integer from 1 to {_MAX_DIMENSIONS}"))
            return _json(200, _embeddings(body, size))
        spec = body.get("mock_response")
        script: dict[str, Any] = spec if isinstance(spec, dict) else {"content": spec}
        status, headers = script.get("status") or 200, script.get("headers") or {}
        if not _is_int(status, 200, 599) or not _is_headers(headers):
            status, headers = 400, {}
            script = {
                "error": "mock_response: 'status' must be an HTTP status (200-599), 'headers' an object of strings"
            }
        if status >= 400:
            message = str(script.get("error") or f"mock error {status}")
            envelope = {
                "error": {
                    "message": message,
                    "type": _ERROR_TYPES.get(status, "server_error"),
                    "param": None,
                    "code": script.get("code"),
                }
            }
            return _json(status, envelope, headers)
        completion = _completion(body, script)
        if body.get("stream"):
            return _MockResponse(200, {"content-type": "text/event-stream"}, b"", _sse(completion))
        return _json(200, completion)

    async def aclose(self) -> None:
        """Nothing to release."""
        return None


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_headers(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _envelope(status: int, message: str) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": _ERROR_TYPES.get(status, "server_error"), "param": None, "code": None}
    }


def _json(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> _MockResponse:
    return _MockResponse(status, {"content-type": "application/json", **(headers or {})}, orjson.dumps(payload))


def _completion(body: dict[str, Any], script: dict[str, Any]) -> dict[str, Any]:
    content = script.get("content")
    tool_calls = script.get("tool_calls")
    if content is None and not tool_calls:
        content = DEFAULT_TEXT
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    finish = script.get("finish_reason") or ("tool_calls" if tool_calls else "stop")
    prompt = _estimate_tokens(body.get("messages"))
    completion = _estimate_tokens(message)
    return {
        "id": f"chatcmpl-mock-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "mock"),
        "system_fingerprint": MOCK_FINGERPRINT,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _sse(completion: dict[str, Any]) -> list[bytes]:
    head = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    head["object"] = "chat.completion.chunk"
    message = completion["choices"][0]["message"]
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    text = message.get("content") or ""
    deltas.extend({"content": word} for word in _pieces(text))
    for index, call in enumerate(message.get("tool_calls") or ()):
        deltas.append({"tool_calls": [{"index": index, **call}]})
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    finish = completion["choices"][0]["finish_reason"]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append({**head, "choices": [], "usage": completion["usage"]})
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words) if w or i == 0]


def _embeddings(body: dict[str, Any], size: int) -> dict[str, Any]:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else [inputs]
    data = []
    for index, item in enumerate(items):
        digest = hashlib.sha256(orjson.dumps(item)).digest()
        vector = [(digest[i % len(digest)] - 128) / 128.0 for i in range(size)]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = _estimate_tokens(inputs)
    return {
        "object": "list",
        "model": body.get("model", "mock"),
        "data": data,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
