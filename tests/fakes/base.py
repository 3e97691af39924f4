"""Shared machinery for the loopback fake upstreams.

A fake is an aiohttp server on ``127.0.0.1`` (free port) running in its own thread and event loop, so that
synchronous tests, async tests on any loop and tollway's own loop thread can all call it. A provider fake
subclasses `FakeUpstream` and supplies its routes (validation + a deterministic default answer) and its
dialect (error envelope, SSE framing, stream terminator, mid-stream error). Tests change what the next
request gets with `FakeUpstream.script` and the `Reply` constructors; everything received is recorded.

Flow of one request: record it → unknown route: 404 envelope → validate it like the real service (a bad
request gets the provider's 400/401 even when a reply is scripted, so the fake stays a strict judge) → the
next scripted `Reply` of that route, or the route's default answer.
"""

from __future__ import annotations

import abc
import asyncio
import copy
import functools
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
from aiohttp import web
from pydantic import TypeAdapter
from pydantic_core import ErrorDetails, SchemaValidator, ValidationError

__all__ = [
    "SSE",
    "Exchange",
    "FakeUpstream",
    "JSONObject",
    "RecordedRequest",
    "Reply",
    "Route",
    "StreamItem",
    "approx_tokens",
    "example_from_schema",
    "split_pieces",
    "strict_validator",
    "validation_message",
]

JSONObject = dict[str, Any]
# The longest any scripted wait may last, so that a test can never hang on a fake.
MAX_WAIT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any  # the parsed body, or None when it is not JSON

    @property
    def body_object(self) -> JSONObject:
        """The parsed body when it is a JSON object, else ``{}``."""
        return self.json if isinstance(self.json, dict) else {}


@dataclass(frozen=True, slots=True)
class SSE:
    """One server-sent event, framed exactly as given (``data`` with newlines becomes several lines)."""

    data: str | None = None
    event: str | None = None
    comment: str | None = None
    delay: float = 0.0  # seconds to wait before writing this event

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.comment is not None:
            lines.append(f": {self.comment}")
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.data is not None:
            lines.extend(f"data: {line}" for line in self.data.split("\n"))
        return ("\n".join(lines) + "\n\n").encode()


# A scripted stream item: a JSON payload (framed the provider's way), an `SSE`, or bytes written verbatim.
StreamItem = JSONObject | SSE | bytes


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint of a fake: how to validate a request and how to answer it by default."""

    name: str
    method: str
    path: str
    validate: Callable[[RecordedRequest], Reply | None]
    answer: Callable[[RecordedRequest], Reply]
    # The default stream for this request (used by `Reply.stream()` without events); None if not streamable.
    events: Callable[[RecordedRequest], list[JSONObject]] | None = None


@dataclass(slots=True)
class Exchange:
    """What a `Reply` needs to answer one request."""

    request: web.Request
    recorded: RecordedRequest
    fake: FakeUpstream
    route: Route | None
    request_id: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The provider's usual response headers, overridden by ``extra``."""
        return {**self.fake.response_headers(self.request_id), **(extra or {})}

    def default(self) -> Reply:
        if self.route is None:
            return Reply.error(404)
        return self.route.answer(self.recorded)

    def default_events(self) -> list[JSONObject]:
        if self.route is None or self.route.events is None:
            raise LookupError(f"route {self.route and self.route.name!r} has no default stream")
        return self.route.events(self.recorded)


class Reply(abc.ABC):
    """A behaviour for one request. Build them with the static constructors and pass them to ``script``.

    >>> fake.script(Reply.error(429, headers={"retry-after": "0"}), Reply.stream(truncate_after=3))
    """

    @abc.abstractmethod
    async def respond(self, exchange: Exchange) -> web.StreamResponse: ...

    @staticmethod
    def json(body: Any, status: int = 200, *, headers: dict[str, str] | None = None) -> Reply:
        """Exactly this JSON body (``application/json``)."""
        return _JSONReply(body, status, headers or {})

    @staticmethod
    def error(
        status: int,
        message: str | None = None,
        *,
        type: str | None = None,  # the provider's field name
        code: str | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Reply:
        """An error status with the provider's real error envelope (or ``body`` verbatim when given)."""
        return _ErrorReply(status, message, type, code, headers or {}, body)

    @staticmethod
    def text(
        body: str | bytes,
        status: int = 200,
        *,
        content_type: str = "text/html",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A non-JSON body, e.g. a proxy's HTML error page."""
        raw = body.encode() if isinstance(body, str) else body
        return _RawReply(raw, status, content_type, headers or {})

    @staticmethod
    def stream(
        events: Sequence[StreamItem] | None = None,
        *,
        delay: float = 0.0,
        truncate_after: int | None = None,
        abort: bool = False,
        keepalive_every: int = 0,
        terminate: bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """An SSE stream of ``events`` (default: the stream the fake would send for this request).

        ``delay`` waits before every event; ``truncate_after=N`` stops after N events without the
        provider's terminator (a clean end of body, or a dropped connection with ``abort=True``);
        ``keepalive_every=K`` writes a ``: keep-alive`` comment before every K-th event; ``terminate=False``
        leaves out the terminator (OpenAI ``data: [DONE]``) after a scripted list.
        """
        return _StreamReply(
            events=events,
            pause=delay,
            truncate_after=truncate_after,
            abort=abort,
            keepalive_every=keepalive_every,
            terminate=terminate,
            headers=headers or {},
        )

    @staticmethod
    def stream_error(
        after: int = 1,
        message: str | None = None,
        *,
        type: str | None = None,  # the provider's field name
        events: Sequence[StreamItem] | None = None,
    ) -> Reply:
        """A 200 stream that reports an error in-band after ``after`` events, then ends."""
        return _StreamReply(events=events, error_after=after, error_message=message, error_type=type)

    @staticmethod
    def delay(seconds: float, then: Reply | None = None) -> Reply:
        """Wait ``seconds`` before sending any header, then answer with ``then`` (default answer if None)."""
        return _DelayReply(min(seconds, MAX_WAIT_SECONDS), then)

    @staticmethod
    def disconnect(*, reset: bool = False) -> Reply:
        """Close the connection without any response (``reset=True``: a TCP RST instead of a FIN)."""
        return _DisconnectReply(reset)

    @staticmethod
    def hang(seconds: float = 3.0) -> Reply:
        """Send nothing until the client gives up, or close the connection after ``seconds`` (bounded)."""
        return _HangReply(min(seconds, MAX_WAIT_SECONDS))


@dataclass(frozen=True, slots=True)
class _JSONReply(Reply):
    body: Any
    status: int
    headers: dict[str, str]

    async def respond(self, exchange: Exchange) -> web.StreamResponse:
        return web.Response(
            status=self.status,
            body=orjson.dumps(self.body),
            content_type="application/json",
            headers=exchange.headers(self.headers),
        )


@dataclass(frozen=True, slots=True)
class _ErrorReply(Reply):
    status: int
    message: str | None
    error_type: str | None
    code: str | None
    headers: dict[str, str]
    body: Any

    async def respond(self, exchange: Exchange) -> web.StreamResponse:
        body = self.body
        if body is None:
            body = exchange.fake.error_body(
                self.status, self.message, self.error_type, code=self.code, request_id=exchange.request_id
            )
        return await _JSONReply(body, self.status, self.headers).respond(exchange)


@dataclass(frozen=True, slots=True)
class _RawReply(Reply):
    body: bytes
    status: int
    content_type: str
    headers: dict[str, str]

    async def respond(self, exchange: Exchange) -> web.StreamResponse:
        headers = {**exchange.headers(self.headers), "Content-Type": self.content_type}
        return web.Response(status=self.status, body=self.body, headers=headers)


@dataclass(frozen=True, slots=True)
class _StreamReply(Reply):
    events: Sequence[StreamItem] | None = None
    pause: float = 0.0
    truncate_after: int | None = None
    abort: bool = False
    keepalive_every: int = 0
    terminate: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    error_after: int | None = None
    error_message: str | None = None
    error_type: str | None = None

    async def respond(self, exchange: Exchange) -> web.StreamResponse:
        fake = exchange.fake
        items = list(self.events) if self.events is not None else list(exchange.default_events())
        response = web.StreamResponse(status=200, headers=exchange.headers(self.headers))
        response.content_type = fake.stream_content_type
        response.headers["Cache-Control"] = "no-cache"
        await response.prepare(exchange.request)
        for index, item in enumerate(items):
            if self.error_after is not None and index >= self.error_after:
                break
            if self.truncate_after is not None and index >= self.truncate_after:
                if self.abort:
                    _close(exchange.request, reset=False)
                    return response
                await response.write_eof()
                return response
            if self.keepalive_every and index and index % self.keepalive_every == 0:
                await response.write(SSE(comment="keep-alive").encode())
            frame = fake.frame(item) if isinstance(item, dict) else item
            wait = max(self.pause, frame.delay if isinstance(frame, SSE) else 0.0)
            if wait:
                await asyncio.sleep(min(wait, MAX_WAIT_SECONDS))
            # One write per event: aiohttp sends each write as its own chunk, so clients see it at once.
            await response.write(frame.encode() if isinstance(frame, SSE) else frame)
        if self.error_after is not None:
            await response.write(fake.stream_error(self.error_message, self.error_type).encode())
        elif self.terminate:
            for frame in fake.stream_end():
                await response.write(frame.encode())
        await response.write_eof()
        return response


@dataclass(frozen=True, slots=True)
class _DelayReply(Reply):
    seconds: float
    then: Reply | None

    async def respond(self, exchange: Exchange) -> web.StreamResponse:
        await asyncio.sleep(self.seconds)
        return await (self.then or exchange.default()).respond(exchange)


@dataclass(frozen=True, slots=True)
class _DisconnectReply(Reply):
    reset: bool

    async def respond(self, exchange: Exchange) -> web.StreamResponse:
        _close(exchange.request, reset=self.reset)
        return _Unsent()


@dataclass(frozen=True, slots=True)
class _HangReply(Reply):
    seconds: float

    async def respond(self, exchange: Exchange) -> web.StreamResponse:
        # The server cancels this handler as soon as the client disconnects (handler_cancellation=True).
        await asyncio.sleep(self.seconds)
        _close(exchange.request, reset=False)
        return _Unsent()


class _Unsent(web.StreamResponse):
    """Returned after the connection was closed on purpose: there is nothing left to send."""

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def _close(request: web.BaseRequest, *, reset: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if reset and sock is not None:
        # SO_LINGER with a zero timeout turns close() into an RST: "connection reset by peer".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FakeUpstream(abc.ABC):
    """Base of every provider fake: server thread, request log, per-route script queues.

    Use as a context manager (or `start`/`stop`). All public methods are thread-safe.
    """

    name: str = "fake"
    url_path: str = ""  # appended to the origin to form `url` (OpenAI: "/v1")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {}
        self._requests: list[RecordedRequest] = []
        self._counter = 0
        self._memory: set[bytes] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._routes = {route.name: route for route in self.routes()}
        self.port = 0
        self.strict = True  # validate requests like the real service before any scripted reply

    # -- what a provider fake supplies ------------------------------------------------------------------
    @abc.abstractmethod
    def routes(self) -> list[Route]:
        """The endpoints; the first is the default target of `script`."""

    @abc.abstractmethod
    def error_body(
        self, status: int, message: str | None, error_type: str | None, *, code: str | None, request_id: str
    ) -> JSONObject:
        """The provider's error envelope for ``status``."""

    @abc.abstractmethod
    def frame(self, payload: JSONObject) -> SSE:
        """How one JSON stream payload is framed as SSE."""

    @abc.abstractmethod
    def stream_error(self, message: str | None, error_type: str | None) -> SSE:
        """The in-band error event of a failed stream."""

    # The Content-Type of streamed answers (Ollama streams NDJSON, Bedrock a binary event stream).
    stream_content_type = "text/event-stream"

    def stream_end(self) -> tuple[SSE, ...]:
        """What ends a complete stream (OpenAI: ``data: [DONE]``)."""
        return ()

    def response_headers(self, request_id: str) -> dict[str, str]:
        """Headers the provider sends on every response (request id, rate limits)."""
        return {}

    # -- lifecycle ----------------------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL to give the provider's SDK (or tollway) as ``base_url``."""
        return self.origin + self.url_path

    def start(self) -> Self:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=_run_loop, args=(loop,), name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a `hang` ends as soon as the client gives up; a short shutdown timeout
        # keeps teardown fast when a test leaves a request open.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        server = site._server  # aiohttp exposes the bound port only through the asyncio server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    # -- test API -----------------------------------------------------------------------------------------
    def script(self, *replies: Reply, route: str | None = None) -> None:
        """Queue ``replies`` for the next requests to ``route`` (default: the first route), one each."""
        name = route or next(iter(self._routes))
        if name not in self._routes:
            raise KeyError(f"{self.name} fake has no route {name!r}; routes: {sorted(self._routes)}")
        with self._lock:
            self._scripts.setdefault(name, deque()).extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last `reset`, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise LookupError(f"the {self.name} fake has received no request")
            return self._requests[-1]

    @property
    def pending(self) -> int:
        """How many scripted replies have not been used yet."""
        with self._lock:
            return sum(len(queue) for queue in self._scripts.values())

    def reset(self) -> None:
        """Forget scripts, recorded requests and any per-test state (called between tests)."""
        with self._lock:
            self._scripts.clear()
            self._requests.clear()
            self._counter = 0
            self._memory.clear()
            self.strict = True

    # -- dispatch -------------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        recorded = await _record(request)
        route = self._find_route(recorded)
        with self._lock:
            self._requests.append(recorded)
            self._counter += 1
            request_id = f"req_fake{self._counter:010d}"
        exchange = Exchange(request, recorded, self, route, request_id)
        return await self._choose(exchange).respond(exchange)

    def _choose(self, exchange: Exchange) -> Reply:
        route = exchange.route
        if route is None:
            return Reply.error(404, f"Unknown request URL: {exchange.recorded.method} {exchange.recorded.path}")
        if self.strict and (rejection := route.validate(exchange.recorded)) is not None:
            return rejection
        with self._lock:
            queue = self._scripts.get(route.name)
            if queue:
                return queue.popleft()
        return route.answer(exchange.recorded)

    def _find_route(self, recorded: RecordedRequest) -> Route | None:
        for route in self._routes.values():
            if route.path == recorded.path and route.method == recorded.method:
                return route
        return None

    def remember(self, key: bytes) -> bool:
        """Record ``key`` in the per-test memory; True when it was already there (prompt-cache hits)."""
        with self._lock:
            if key in self._memory:
                return True
            self._memory.add(key)
            return False


async def _record(request: web.Request) -> RecordedRequest:
    body = await request.read()
    try:
        parsed: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        json=parsed,
    )


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


# -- helpers shared by provider fakes ------------------------------------------------------------------------
def approx_tokens(data: str | bytes) -> int:
    """A deterministic token estimate: about four characters per token, at least one."""
    return max(1, (len(data) + 3) // 4)


def split_pieces(text: str) -> list[str]:
    """Split ``text`` into word-sized pieces (one 'token' each, like " world") that join back to ``text``."""
    return re.findall(r"\s*\S+|\s+$", text)


def example_from_schema(schema: Any, name: str = "value") -> Any:
    """A small value that satisfies a JSON schema's types and required properties (tool-call arguments)."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema or schema.get("enum"):
        return schema.get("const", (schema.get("enum") or [None])[0])
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return example_from_schema(schema[key][0], name)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: example_from_schema(properties.get(key, {}), key) for key in schema.get("required", [])}
    simple: dict[str, Any] = {"string": f"example {name}", "integer": 1, "number": 1.5, "boolean": True}
    return [example_from_schema(schema.get("items", {}), name)] if kind == "array" else simple.get(kind)


@functools.cache
def strict_validator(typed_dict: Any) -> SchemaValidator:
    """A validator for an SDK's request TypedDict that, like the real APIs, rejects unknown keys.

    pydantic lets TypedDicts carry extra keys and validates ``Iterable[...]`` fields lazily, so the schema is
    rewritten: every typed-dict forbids extras and every generator becomes a list (validated eagerly).
    """
    schema = copy.deepcopy(TypeAdapter(typed_dict).core_schema)

    def tighten(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("typed-dict", "model-fields"):
                node["extra_behavior"] = "forbid"
            elif node.get("type") == "model":  # the SDKs' response models allow extras by default
                node.setdefault("config", {})["extra_fields_behavior"] = "forbid"
            elif node.get("type") == "generator":
                node["type"] = "list"
                node.pop("serialization", None)
            for value in node.values():
                tighten(value)
        elif isinstance(node, list):
            for value in node:
                tighten(value)

    tighten(schema)
    return SchemaValidator(schema)


def validation_message(validator: SchemaValidator, data: Any) -> str | None:
    """None when ``data`` is valid, else the most specific problem as ``"a.0.b: message"`` (the APIs' format)."""
    try:
        validator.validate_python(data)
    except ValidationError as exc:
        error = _most_specific(exc.errors())
        location = ".".join(str(part) for part in _plain_loc(error["loc"]))
        return f"{location}: {error['msg']}" if location else str(error["msg"])
    return None


def _most_specific(errors: list[ErrorDetails]) -> ErrorDetails:
    # A union reports one error per member. Members whose discriminator ("type"/"role") did not match are
    # noise; of the rest, the deepest error says what is wrong with the member the caller meant.
    mismatched = [
        error["loc"][:-1]
        for error in errors
        if error["type"] == "literal_error" and error["loc"] and error["loc"][-1] in ("type", "role")
    ]
    relevant = [e for e in errors if not any(e["loc"][: len(prefix)] == prefix for prefix in mismatched)]
    return max(relevant or errors, key=lambda error: len(error["loc"]))


def _plain_loc(loc: Iterable[Any]) -> list[Any]:
    # pydantic adds union-member tags ("TextBlockParam", "list[...]", "str") to locations; the APIs do not.
    tags = {"str", "int", "float", "bool", "dict", "list", "none"}
    return [part for part in loc if isinstance(part, int) or not (part[:1].isupper() or "[" in part or part in tags)]
