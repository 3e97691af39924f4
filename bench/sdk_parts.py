"""Where the SDK's overhead goes: the pure (no I/O) steps of one ``acompletion``, timed with ``timeit``.

Usage: python bench/sdk_parts.py [--number 20000]

Each step is timed in isolation (best of 5 runs of ``--number`` iterations), beside what the aiohttp floor of
``sdk.py`` does for the same step, so the difference points at the code to make faster. It reaches into
tollway's internals (``tollway.calls.plan_call``, the adapter, the stream decoder): when those change, update this
file. The I/O part (aiohttp itself, the event loop, the ``asyncio.timeout`` contexts) is not here; ``sdk.py``
measures the whole call.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson

from fake_upstream import CHAT, SSE
from tollway.calls import plan_call
from tollway.client import Client
from tollway.http import HttpResponse, lower_headers
from tollway.messages import validate_chat_request
from tollway.types import ChatCompletion, ChatCompletionChunk
from tollway.usage import TokenUsage

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say hello in one short sentence, please."},
]
PARAMS = {"api_base": "http://127.0.0.1:9000/v1", "api_key": "sk-bench"}
# What aiohttp hands the transport: a CIMultiDictProxy of about this size.
HEADERS = {
    "Content-Type": "application/json",
    "Content-Length": str(len(CHAT)),
    "x-ratelimit-remaining-requests": "9999",
}


def steps() -> list[tuple[str, Callable[[], object], Callable[[], object] | None]]:
    client = Client()

    def prepare(stream: bool) -> Any:
        params = dict(PARAMS, stream=True) if stream else PARAMS
        call = plan_call("openai/gpt-4o-mini", params, {"messages": MESSAGES}, client._settings)
        validate_chat_request(call.request)
        return call

    call = prepare(stream=False)
    stream_call = prepare(stream=True)
    headers = lower_headers(HEADERS)

    def request_side() -> object:
        call = prepare(stream=False)
        return call.adapter.build_chat_request(call.request, call.endpoint)

    def floor_request() -> object:
        return orjson.dumps({"model": "gpt-4o-mini", "messages": MESSAGES})

    def response_side() -> object:
        answer = HttpResponse(200, lower_headers(HEADERS), CHAT)
        data = call.adapter.parse_chat_response(answer, call.request, call.endpoint)
        meta = client._meta(call, 1, headers)
        meta.usage = TokenUsage.from_openai(data.get("usage"))
        return ChatCompletion(data, meta).choices[0].message.content

    def floor_response() -> object:
        return orjson.loads(CHAT)["choices"][0]["message"]["content"]

    def stream_side() -> object:
        decoder = call.adapter.chat_stream_decoder(stream_call.request, stream_call.endpoint)
        meta = client._meta(stream_call, 1, headers)
        chunks = [ChatCompletionChunk(c, meta) for c in (*decoder.feed(SSE), *decoder.close())]
        meta.usage = TokenUsage.from_openai(decoder.usage)
        return chunks

    def floor_stream() -> object:
        return [orjson.loads(line[6:]) for line in SSE.split(b"\n") if line.startswith(b"data: {")]

    return [
        ("request: split, validate, resolve, build body", request_side, floor_request),
        ("  of which plan_call + validate", lambda: prepare(stream=False), None),
        ("response: parse, usage, wrap, read content", response_side, floor_response),
        ("stream: decode 12 SSE events, wrap chunks", stream_side, floor_stream),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=20000, help="iterations per timing run (20000)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {0})
    print(f"{'step':<48}{'tollway µs':>11}{'floor µs':>10}{'difference':>12}")
    for name, mine, floor in steps():
        best = min(timeit.repeat(mine, number=args.number, repeat=5)) / args.number * 1e6
        if floor is None:
            print(f"{name:<48}{best:11.2f}")
            continue
        base = min(timeit.repeat(floor, number=args.number, repeat=5)) / args.number * 1e6
        print(f"{name:<48}{best:11.2f}{base:10.2f}{best - base:+12.2f}")


if __name__ == "__main__":
    main()
