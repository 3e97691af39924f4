"""Minimal, fast fake OpenAI-compatible upstream for overhead benchmarks.

Answers POST /v1/chat/completions (JSON, or SSE when the body has ``"stream": true``: a role chunk, nine content
chunks, a finish chunk, a usage chunk with ``choices: []``, then ``[DONE]``), POST /v1/embeddings and GET /v1/models
with fixed bodies; keep-alive HTTP/1.1; optional delay. It does no JSON work per request, so its own CPU cost stays
out of the way of what is measured (~16 µs per request on the project's machine).

Usage: python fake_upstream.py PORT [DELAY_MS]
PORT 0 picks a free port. Once listening it prints one line, ``fake upstream listening on http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import cast

CHAT = json.dumps(
    {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
        "system_fingerprint": "fp_fake",
    }
).encode()

EMB = json.dumps(
    {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.01] * 16}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }
).encode()

MODELS = json.dumps(
    {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "fake"}]}
).encode()


def sse_body() -> bytes:
    """The streamed answer: the same text as CHAT in 12 SSE events plus ``[DONE]``."""
    words = ["Hello", "!", " How", " can", " I", " help", " you", " today", "?"]
    base = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_fake",
    }
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    chunks += [{**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}})
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


SSE = sse_body()


def response(body: bytes, ctype: bytes) -> bytes:
    """A complete HTTP/1.1 200 answer with a fixed body."""
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + ctype
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nx-ratelimit-remaining-requests: 9999\r\n\r\n"
        + body
    )


R_CHAT = response(CHAT, b"application/json")
R_EMB = response(EMB, b"application/json")
R_SSE = response(SSE, b"text/event-stream")
R_MODELS = response(MODELS, b"application/json")


def pick(path: str, body: bytes) -> bytes:
    """The canned answer for a request path and body."""
    if "embeddings" in path:
        return R_EMB
    if path.endswith("/models"):
        return R_MODELS
    if b'"stream": true' in body or b'"stream":true' in body:
        return R_SSE
    return R_CHAT


class Proto(asyncio.Protocol):
    """Parses pipelined HTTP/1.1 requests just enough (request line, content-length) to answer each one."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.transport: asyncio.Transport | None = None
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = self.buf[:i].decode("latin-1")
            n = 0
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    n = int(v)
            if len(self.buf) < i + 4 + n:
                return
            body = self.buf[i + 4 : i + 4 + n]
            self.buf = self.buf[i + 4 + n :]
            answer = pick(head.split(" ", 2)[1], body)
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self.transport.write, answer)
            else:
                self.transport.write(answer)


async def serve(port: int, delay: float) -> None:
    """Listen on 127.0.0.1:port until cancelled."""
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: Proto(delay), "127.0.0.1", port, backlog=4096)
    bound = srv.sockets[0].getsockname()[1]
    print(f"fake upstream listening on http://127.0.0.1:{bound}", flush=True)
    async with srv:
        await srv.serve_forever()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    delay = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
    try:
        import uvloop
    except ImportError:
        runner = asyncio.run
    else:
        runner = uvloop.run
    runner(serve(port, delay))


if __name__ == "__main__":
    main()
