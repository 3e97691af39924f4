"""What the gateway sends back: orjson bodies, error envelopes, result headers and the SSE relay.

Errors never carry a stack trace, a key or a prompt: a ``TollwayError`` becomes its own status and envelope;
anything else becomes a 500 "internal error" naming the request id, with the traceback logged server-side only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tollway.errors import TollwayError
from tollway.proxy.auth import SCOPE_KEY as CALLER
from tollway.proxy.auth import Caller
from tollway.proxy.body import ClientGone
from tollway.proxy.request_headers import headers_of
from tollway.streaming import AsyncCompletionStream
from tollway.types import ResponseMeta

__all__ = [
    "Observer",
    "RawHeader",
    "RequestIds",
    "ResultResponse",
    "SSEResponse",
    "error_body",
    "error_response",
    "guard",
    "json_response",
    "meta_headers",
    "relay",
    "result_response",
    "sse_error",
]

logger = logging.getLogger("tollway.proxy")

ChunkEncoder = Callable[[dict[str, Any]], bytes]
ErrorEncoder = Callable[[TollwayError], bytes]

DONE = b"data: [DONE]\n\n"
_JSON_CONTENT_TYPE = (b"content-type", b"application/json")
_NO_CACHE = (b"cache-control", b"no-cache")
_CACHE_HIT = (b"x-tollway-cache-hit", b"true")
_UNPRICED = b"unpriced"

RawHeader = tuple[bytes, bytes]
"""A response header as ASGI sends it: lower-case name and value, latin-1 encoded."""


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``data`` serialised with orjson."""
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")


class ResultResponse(Response):
    """A whole answer of a model call, carrying its ``ResponseMeta`` for the metrics and the overhead header."""

    media_type = "application/json"

    def __init__(self, content: bytes, status: int, raw_headers: list[RawHeader], meta: ResponseMeta | None) -> None:
        """``raw_headers``: lower-case names and values, latin-1 encoded (as ASGI sends them), without
        content-length and content-type, which are added here. The list is taken, not copied."""
        # What Starlette's Response.__init__ does for a bytes body and headers that never carry content-length or
        # content-type, without its generic checks (every model answer goes through here).
        self.status_code = status
        self.background = None
        self.body = content
        raw_headers.append((b"content-length", b"%d" % len(content)))
        raw_headers.append(_JSON_CONTENT_TYPE)
        self.raw_headers = raw_headers
        self.meta = meta


def result_response(
    data: Any,
    meta: ResponseMeta | None,
    request_id: str,
    status: int = 200,
    *,
    extra: Sequence[RawHeader] = (),
) -> ResultResponse:
    """``data`` (a model call's answer) with ``meta_headers`` (plus the encoded ``extra``) and ``meta`` kept on the
    response."""
    headers = meta_headers(meta, request_id)
    headers.extend(extra)
    return ResultResponse(orjson.dumps(data), status, headers, meta)


def error_body(exc: BaseException, request_id: str) -> tuple[int, dict[str, Any]]:
    """Status and OpenAI envelope for any exception; unexpected ones are logged with their traceback here."""
    if isinstance(exc, TollwayError):
        return exc.status_code, exc.to_dict()
    logger.error("internal error in request %s", request_id, exc_info=exc)
    return 500, {
        "error": {
            "message": f"internal error (request id {request_id})",
            "type": "server_error",
            "param": None,
            "code": "internal_error",
        }
    }


def error_response(exc: BaseException, request_id: str) -> Response:
    """The OpenAI error envelope for ``exc`` as a response (``retry-after`` kept when the upstream gave one)."""
    status, body = error_body(exc, request_id)
    headers = {"x-request-id": request_id}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["retry-after"] = str(max(0, round(retry_after)))
    return json_response(body, status, headers)


def meta_headers(meta: ResponseMeta | None, request_id: str, *, cost: bool = True) -> list[RawHeader]:
    """``x-request-id``, ``x-tollway-model``, ``x-tollway-cost`` (when known: streams are costed at their end)
    and ``x-tollway-cache-hit``, encoded as ASGI sends them: every model answer carries them, and a header dict
    lower-cased and encoded later cost more (callgrind, these and the ``x-ratelimit-*`` headers encoded alike:
    18.5k instructions per request fewer with a virtual key, bench/RESULTS.md). ``request_id`` is ASCII
    (``RequestIds``); a model name from the config may not be latin-1, and its header then says ``?`` where a
    character cannot be sent, rather than failing an answer already paid for."""
    headers = [(b"x-request-id", request_id.encode("latin-1"))]
    if meta is None:
        return headers
    model = meta.deployment_id or f"{meta.provider}/{meta.model}"
    headers.append((b"x-tollway-model", model.encode("latin-1", "replace")))
    if cost:
        headers.append(
            (b"x-tollway-cost", format(meta.cost.total, "f").encode() if meta.cost is not None else _UNPRICED)
        )
    if meta.cache_hit:
        headers.append(_CACHE_HIT)
    return headers


def openai_chunk(chunk: dict[str, Any]) -> bytes:
    """One OpenAI SSE event."""
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def sse_error(exc: TollwayError) -> bytes:
    """An error after the first byte, as OpenAI's ``data: {"error": ...}`` event."""
    return b"data: " + orjson.dumps(exc.to_dict()) + b"\n\n"


async def relay(
    stream: AsyncCompletionStream,
    request_id: str,
    *,
    encode: ChunkEncoder = openai_chunk,
    finish: Callable[[], bytes] = lambda: DONE,
    on_error: ErrorEncoder = sse_error,
) -> AsyncIterator[bytes]:
    """Chunks of ``stream`` as SSE bytes; the upstream is closed however the relay ends (finished, failed, or the
    client went away and the response cancelled or closed this generator)."""
    try:
        async for chunk in stream:
            # ``_data`` is the chunk's own dict: to_dict() would deep-copy every chunk for nothing.
            yield encode(chunk._data)
        yield finish()
    except TollwayError as exc:
        yield on_error(exc)
    except Exception as exc:  # the status line is sent: report in-band, log the traceback
        _, body = error_body(exc, request_id)
        yield b"data: " + orjson.dumps(body) + b"\n\n"
    finally:
        # Shielded: after a disconnect the surrounding scope is cancelled, and an unshielded await would be too.
        with anyio.CancelScope(shield=True):
            await stream.aclose()


class SSEResponse(StreamingResponse):
    """A streaming ``text/event-stream`` response that always closes its generator (and with it the upstream),
    also when the client disconnects mid-stream."""

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        headers: Sequence[RawHeader],
        *,
        stream: AsyncCompletionStream | None = None,
    ) -> None:
        """``headers``: encoded as ``ResultResponse``'s; cache-control and content-type are added here."""
        super().__init__(content)  # its raw headers: the content-type of media_type
        self.raw_headers = [_NO_CACHE, *headers, *self.raw_headers]
        self._generator = content
        # The upstream stream being relayed: the metrics settle tokens and spend when it closes.
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream while one watcher task listens for the client's disconnect (which cancels the stream), then close
        the generator whatever happened.

        Starlette's own ``StreamingResponse`` does the same with an anyio task group and two tasks per response
        (uvicorn speaks ASGI 2.3, where ``send`` does not fail after a disconnect); one plain task is measurably
        cheaper on the streaming hot path.
        """
        task = asyncio.current_task()
        assert task is not None
        state = {"done": False, "gone": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not state["done"]:
                state["gone"] = True
                task.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self.stream_response(send)
            state["done"] = True
        except asyncio.CancelledError:
            if not state["gone"]:
                raise
            task.uncancel()  # our own cancellation: the client left; nothing more to send
        finally:
            state["done"] = True
            watcher.cancel()
            aclose = getattr(self._generator, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()


Work = Callable[[Request, str], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
OnError = Callable[[BaseException, str], Response]


class Checker(Protocol):
    """What ``guard`` needs of an authenticator (``tollway.proxy.auth.Authenticator``)."""

    async def authenticate(self, headers: Mapping[str, str]) -> Caller:
        """The caller, or raise ``AuthenticationError`` / ``PermissionDeniedError``."""


class Observer(Protocol):
    """What ``guard`` reports each answer to (``tollway.proxy.metrics.RouteMetrics``); ``started`` is the
    ``time.perf_counter()`` of the request's arrival."""

    def answered(self, response: Response, started: float) -> None:
        """A handler returned ``response``."""

    def failed(self, exc: BaseException, status: int, started: float) -> None:
        """A handler raised ``exc``, answered with ``status``."""


class RequestIds:
    """New request ids: a random per-process prefix and a counter (unique across processes and restarts with
    overwhelming probability, like uuid4, at a tenth of uuid4's cost on the hot path)."""

    __slots__ = ("_count", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._count = itertools.count()

    def new(self) -> str:
        """A fresh 32-hex-digit id."""
        return f"{self._prefix}{next(self._count):016x}"

    def of(self, request: Request) -> str:
        """The client's ``x-request-id`` when it is a sane token (echoed back), else a new id."""
        given = headers_of(request).get("x-request-id")
        if given and len(given) <= 128 and given.isascii() and given.isprintable():
            return given
        return self.new()


def guard(
    work: Work,
    auth: Checker | None,
    on_error: OnError = error_response,
    *,
    observer: Observer | None = None,
    ids: RequestIds | None = None,
) -> Endpoint:
    """A Starlette endpoint around ``work``: request id (from ``ids``), authentication, and every exception turned
    into an error envelope (``on_error``), so no handler can leak a traceback; each answer reported to ``observer``."""
    request_id_of = (ids or RequestIds()).of

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        request_id = request_id_of(request)
        try:
            if auth is not None:
                request.scope[CALLER] = await auth.authenticate(headers_of(request))
            response = await work(request, request_id)
        except ClientGone:
            # Nobody is listening any more; uvicorn discards whatever is sent. Not an error worth logging.
            return Response(status_code=499)
        except Exception as exc:  # the one boundary where every error becomes an envelope
            response = on_error(exc, request_id)
            if observer is not None:
                observer.failed(exc, response.status_code, started)
            return response
        if observer is not None:
            observer.answered(response, started)
        return response

    return endpoint
