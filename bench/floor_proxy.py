"""Performance floor: the thinnest sensible Python pass-through of OpenAI chat requests.

aiohttp server + pooled aiohttp client + uvloop + orjson: parse the body, rewrite the model,
forward, parse the answer (or relay the SSE stream line by line), rewrite the model, answer.
No auth, limits, routing, pricing or logging: whatever a real gateway adds is measured against this.

Usage: python floor_proxy.py PORT UPSTREAM_PORT
"""

from __future__ import annotations

import sys

import aiohttp
import orjson
import uvloop
from aiohttp import web

HEADERS = {"content-type": "application/json", "authorization": "Bearer upstream-key"}
SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def chat(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    public_model = body.get("model")
    body["model"] = "gpt-4o-mini"
    session = request.app[SESSION]
    async with session.post(request.app[UPSTREAM], data=orjson.dumps(body), headers=HEADERS) as upstream:
        if not body.get("stream"):
            data = orjson.loads(await upstream.read())
            data["model"] = public_model
            return web.Response(body=orjson.dumps(data), content_type="application/json")
        out = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await out.prepare(request)
        async for raw in upstream.content:
            line = raw
            if line.startswith(b"data: {"):
                chunk = orjson.loads(line[6:])
                chunk["model"] = public_model
                line = b"data: " + orjson.dumps(chunk) + b"\n"
            await out.write(line)
        await out.write_eof()
        return out


def make_app(upstream_port: int) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
    app.router.add_post("/v1/chat/completions", chat)

    async def open_session(app: web.Application) -> None:
        app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def close_session(app: web.Application) -> None:
        await app[SESSION].close()

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    return app


def main() -> None:
    port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    web.run_app(
        make_app(upstream_port), host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop()
    )


if __name__ == "__main__":
    main()
