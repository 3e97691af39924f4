"""A CloudEvents receiver on loopback, OpenMeter-style, for the billing export's tests: an aiohttp server on the
test's own event loop (``async with CloudEventsReceiver() as receiver``; ``receiver.url`` is where to POST).

What it checks and does, after the CloudEvents 1.0 JSON format
(https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md) and OpenMeter's ingest API:

- ``POST /api/v1/events`` with ``Content-Type: application/cloudevents-batch+json`` (a JSON array of events) or
  ``application/cloudevents+json`` (one event); any other type is a 415.
- ``Authorization: Bearer <token>`` when the receiver has a ``token``; otherwise a 401.
- Every event must carry ``specversion`` "1.0" and non-empty string ``id``, ``source`` and ``type``; one that does
  not makes the whole request a 400 (nothing of it is kept).
- Events are kept once per (``source``, ``id``): a copy is counted in ``duplicates`` and dropped, as OpenMeter does.
- ``fail_next(status, times)`` answers the next requests with ``status`` (optionally with ``Retry-After``).
- Accepted requests answer 204.
"""

from __future__ import annotations

import json
from typing import Any, Self

from aiohttp import web

__all__ = ["CloudEventsReceiver"]

PATH = "/api/v1/events"
BATCH = "application/cloudevents-batch+json"
SINGLE = "application/cloudevents+json"


class CloudEventsReceiver:
    """The receiver (see the module docstring); ``events`` are the distinct events kept, in arrival order."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.events: list[dict[str, Any]] = []
        self.duplicates = 0
        self.requests: list[dict[str, str]] = []  # the headers of every request
        self.batches: list[int] = []  # the size of every batch accepted
        self._seen: set[tuple[str, str]] = set()
        self._failures: list[tuple[int, str | None]] = []
        self._runner: web.AppRunner | None = None
        self._port = 0

    @property
    def url(self) -> str:
        """The ingest URL."""
        return f"http://127.0.0.1:{self._port}{PATH}"

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status``."""
        self._failures += [(status, retry_after)] * times

    def ids(self) -> list[str]:
        """The ids of the events kept, in order."""
        return [event["id"] for event in self.events]

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post(PATH, self._ingest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _ingest(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if self._failures:
            status, retry_after = self._failures.pop(0)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return _problem(status, "injected failure", headers)
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _problem(401, "missing or wrong bearer token")
        kind = request.content_type
        if kind not in (BATCH, SINGLE):
            return _problem(415, f"unsupported content type {kind!r}")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _problem(400, "the body is not JSON")
        events = body if kind == BATCH else [body]
        if not isinstance(events, list) or not all(_valid(event) for event in events):
            return _problem(400, "not CloudEvents 1.0: specversion, id, source and type are required")
        for event in events:
            key = (event["source"], event["id"])
            if key in self._seen:
                self.duplicates += 1
                continue
            self._seen.add(key)
            self.events.append(event)
        self.batches.append(len(events))
        return web.Response(status=204)


def _valid(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        return False
    return all(isinstance(event.get(name), str) and event[name] for name in ("id", "source", "type"))


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"type": "about:blank", "title": "error", "status": status, "detail": detail}  # RFC 9457, as OpenMeter
    return web.json_response(body, status=status, headers=headers, content_type="application/problem+json")
