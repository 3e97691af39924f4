"""Streamed chat completions as iterators of OpenAI chunks, async and sync.

The stream reads upstream bytes, lets the adapter's decoder turn them into chunk dicts and hands them out as
``ChatCompletionChunk`` objects. It owns the upstream connection: finishing, breaking out of the loop, ``close()`` or
leaving an ``async with`` block releases it, and an unfinished stream closes the connection so the provider stops
generating. The usage chunk (``choices: []``) reaches callers only when they asked with
``stream_options={"include_usage": True}``; the usage is known either way (``stream.usage``) so every streamed call
can be costed.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeVar

from tollway.adapters.base import StreamDecoder
from tollway.errors import TollwayError
from tollway.transport import TransportResponse
from tollway.types import ChatCompletionChunk, ResponseMeta
from tollway.usage import TokenUsage

__all__ = ["AsyncCompletionStream", "CompletionStream"]

_T = TypeVar("_T")


class _Runner(Protocol):
    def run(self, coro: Coroutine[Any, Any, _T]) -> _T: ...


# Called once when a stream ends (finished, failed or abandoned) with the provider's usage (None when it reported
# none) and the text streamed so far (content, reasoning): the client settles usage and cost on ``meta`` with it.
StreamEnd = Callable[[ResponseMeta, "dict[str, Any] | None", str, str], None]


class AsyncCompletionStream:
    """An async iterator of ``ChatCompletionChunk``; use ``async with`` or ``aclose()`` to stop early."""

    def __init__(
        self,
        response: TransportResponse,
        decoder: StreamDecoder,
        *,
        meta: ResponseMeta,
        include_usage: bool,
        on_end: StreamEnd | None = None,
    ) -> None:
        self._response = response
        self._decoder = decoder
        self._meta = meta
        self._include_usage = include_usage
        self._on_end = on_end
        self._on_close: list[Callable[[AsyncCompletionStream], Awaitable[None]]] = []
        # What was streamed, kept only to estimate usage for providers that report none (never sent anywhere).
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._bytes = response.iter_bytes()
        self._ready: deque[dict[str, Any]] = deque()
        self._done = False
        self._closed = False

    @property
    def meta(self) -> ResponseMeta:
        """Provider, upstream model and attempts; ``meta.usage`` is filled when the stream ends."""
        return self._meta

    @property
    def usage(self) -> TokenUsage | None:
        """Usage reported by the provider so far (complete once the stream is exhausted)."""
        usage = self._decoder.usage
        return TokenUsage.from_openai(usage) if usage else None

    async def prime(self) -> None:
        """Read until the first chunk is decoded, so errors sent before any output surface before the call returns
        (and can be retried) rather than inside the caller's loop."""
        try:
            while not self._ready and not self._done:
                await self._pull()
        except BaseException:
            await self.aclose()
            raise

    async def _pull(self) -> None:
        # The transport enforces the read timeout between two reads (aiohttp's sock_read), raising Timeout.
        data = await anext(self._bytes, None)
        if data is None:
            chunks = self._decoder.close()
            self._done = True
        else:
            chunks = self._decoder.feed(data)
        for chunk in chunks:
            choices = chunk.get("choices")
            if choices:
                delta = choices[0].get("delta") or {}
                if delta.get("content"):
                    self._text.append(delta["content"])
                if delta.get("reasoning_content"):
                    self._reasoning.append(delta["reasoning_content"])
            if self._include_usage or choices or not chunk.get("usage"):
                self._ready.append(chunk)

    def __aiter__(self) -> AsyncCompletionStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            while not self._ready:
                if self._done:
                    await self._finish()
                    raise StopAsyncIteration
                await self._pull()
        except TollwayError as exc:
            exc.provider = exc.provider or self._meta.provider
            exc.model = exc.model or self._meta.model
            await self.aclose()
            raise
        except BaseException:
            await self.aclose()
            raise
        return ChatCompletionChunk(self._ready.popleft(), self._meta)

    def add_close_callback(self, callback: Callable[[AsyncCompletionStream], Awaitable[None]]) -> None:
        """Await ``callback(stream)`` once the stream is closed and its usage settled (a router records the
        deployment's usage and latency this way)."""
        self._on_close.append(callback)

    async def _finish(self) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop reading and release (or, if unfinished, close) the upstream connection."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._response.aclose()
        finally:
            self._settle()
            for callback in self._on_close:
                await callback(self)

    def _settle(self) -> None:
        if self._on_end is not None:
            self._on_end(self._meta, self._decoder.usage, "".join(self._text), "".join(self._reasoning))
        else:
            self._meta.usage = self.usage

    async def __aenter__(self) -> AsyncCompletionStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class CompletionStream:
    """A blocking iterator over an ``AsyncCompletionStream`` running on the client's loop thread."""

    def __init__(self, stream: AsyncCompletionStream, runner: _Runner) -> None:
        self._stream = stream
        self._runner = runner

    @property
    def meta(self) -> ResponseMeta:
        """Provider, upstream model and attempts; ``meta.usage`` is filled when the stream ends."""
        return self._stream.meta

    @property
    def usage(self) -> TokenUsage | None:
        """Usage reported by the provider so far (complete once the stream is exhausted)."""
        return self._stream.usage

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        try:
            return self._runner.run(_next(self._stream))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        """Stop reading and release the upstream connection."""
        self._runner.run(self._stream.aclose())

    def __enter__(self) -> CompletionStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A sync stream abandoned mid-way would otherwise hold its connection until the loop thread exits.
        stream = getattr(self, "_stream", None)
        if stream is not None and not stream._closed:
            with contextlib.suppress(RuntimeError):  # the loop thread is already gone (interpreter exit)
                self._runner.run(stream.aclose())


async def _next(stream: AsyncIterator[_T]) -> _T:
    return await anext(stream)
