"""Local receivers of alert deliveries, for the alerts tests (``tests/economics/test_econ_alerts_*.py``).

- ``HttpReceiver``: an aiohttp server on ``127.0.0.1:<free port>`` in the test's own event loop, standing in for a
  webhook endpoint and for Slack's incoming webhooks. Every request is recorded (path, headers, body). Answers are
  scripted per path (``script(path, 500, 500)``): a status code, or ``HANG`` (no answer until the receiver closes,
  so the sender's timeout fires); once the script is used up, 200 ``ok`` (what Slack answers).
- ``SmtpReceiver``: an aiosmtpd server in a thread of its own on a free port; every message it accepts is recorded
  (envelope sender, recipients, parsed message). ``reject(code)`` makes the next messages fail with that reply.
"""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Self

import orjson
from aiohttp import web

__all__ = ["HANG", "HttpReceiver", "Received", "SmtpReceiver", "free_port"]

HANG = -1  # a scripted "answer" that never comes


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Received:
    """One request the HTTP receiver got."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)


@dataclass
class HttpReceiver:
    """See the module docstring. Use as ``async with HttpReceiver() as receiver``."""

    requests: list[Received] = field(default_factory=list)
    _scripts: dict[str, list[int]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: int) -> None:
        """Answer the next requests to ``path`` with these statuses (``HANG``: never answer)."""
        self._scripts.setdefault(path, []).extend(answers)

    def to(self, path: str) -> list[Received]:
        """The requests received on ``path``."""
        return [request for request in self.requests if request.path == path]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body))
        script = self._scripts.get(request.path)
        answer = script.pop(0) if script else 200
        if answer == HANG:
            await self._released.wait()
            answer = 503
        text = "ok" if answer == 200 else f"scripted failure {answer}"
        return web.Response(status=answer, text=text)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()


@dataclass
class SmtpMessage:
    """One message the SMTP receiver accepted."""

    sender: str
    recipients: list[str]
    message: Message


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.receiver.rejections:
            return self.receiver.rejections.pop(0)
        content = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        parsed = email.message_from_bytes(content)
        self.receiver.messages.append(SmtpMessage(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """See the module docstring. Use as ``with SmtpReceiver() as smtp``; ``smtp.port``."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[SmtpMessage] = []
        self.rejections: list[str] = []
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def reject(self, *replies: str) -> None:
        """Answer the next messages' DATA with these replies (``"451 try again later"``, ``"554 no"``)."""
        self.rejections.extend(replies)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()

    def __iter__(self) -> Iterator[SmtpMessage]:
        return iter(self.messages)
