"""Sending alerts (the I/O side of alerting): one sender per channel type, and ``deliver``, which retries a channel
with exponential backoff and reports every attempt.

- Webhook: ``POST <url>`` with the JSON body of ``alerts_format.webhook_body``, ``content-type: application/json``,
  ``x-tollway-event-id`` (the same on every retry: receivers deduplicate on it) and ``x-tollway-signature``
  (``alerts_signing``: Stripe-style HMAC-SHA256 of ``"<t>." + body``).
- Slack: ``POST <incoming-webhook url>`` with ``alerts_format.slack_payload``.
- Email: ``smtplib`` in a worker thread (STARTTLS or implicit TLS when the server says so, login when a username
  is set), plain text.

Outcomes: a 2xx answer (or an accepted email) is delivered. Timeouts (``timeout`` seconds per attempt), connection
errors, HTTP 408/425/429/5xx and SMTP 4xx replies are retried, up to ``attempts`` tries in all, waiting
``backoff * 2**n`` seconds (at most ``max_backoff``) between them; any other answer (a 4xx, a redirect: redirects
are not followed, an SMTP 5xx) fails at once, as retrying cannot fix it. Nothing here raises for a failed
delivery: the outcome says what happened, and error texts never contain a channel's secret (URLs in them are
shown redacted).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import orjson

from tollway._version import __version__
from tollway.economics.alerts import Channel, SmtpServer, redact_url
from tollway.economics.alerts_format import email_parts, slack_payload, webhook_body
from tollway.economics.alerts_signing import SIGNATURE_HEADER, signature_header

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = ["Attempt", "DeliverySettings", "Message", "Sender", "deliver", "send_once"]

_RETRY_STATUSES = frozenset({408, 425, 429})
_SNIPPET = 200  # characters of a failed answer's body kept in the error


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How hard to try: ``attempts`` tries of ``timeout`` seconds each, ``backoff * 2**n`` s apart (at most
    ``max_backoff``); ``smtp`` is the server of email channels without their own."""

    attempts: int = 4
    timeout: float = 5.0
    backoff: float = 1.0
    max_backoff: float = 30.0
    smtp: SmtpServer | None = None

    def delays(self) -> list[float]:
        """The waits between attempts."""
        return [min(self.backoff * 2**index, self.max_backoff) for index in range(self.attempts - 1)]

    def lease(self) -> float:
        """Seconds a delivery may take at worst (email may spend a timeout per SMTP step), plus a margin: after this,
        another instance may take a pending delivery over."""
        return self.attempts * self.timeout * 4 + sum(self.delays()) + 30


@dataclass(frozen=True, slots=True)
class Message:
    """One alert event to send: its id, time and payload (``Alert.payload()``)."""

    event_id: str
    created: datetime
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one attempt: delivered, or not and whether another attempt could help."""

    delivered: bool
    retry: bool = False
    http_status: int | None = None
    error: str | None = None


class Sender(Protocol):
    """Sends one message to one channel, once: the seam each channel type plugs into."""

    async def __call__(self, channel: Channel, message: Message, settings: DeliverySettings) -> Attempt: ...


def _clean(text: str, limit: int = 500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _error_text(error: BaseException, url: str) -> str:
    """``Type: message`` with the URL (and its path and query, where tokens live) redacted."""
    text = str(error)
    parts = urlsplit(url)
    for secret in (url, parts.path + ("?" + parts.query if parts.query else ""), parts.query):
        if len(secret) > 1:
            text = text.replace(secret, redact_url(url) if secret == url else "/***")
    return _clean(f"{type(error).__name__}: {text}" if text else type(error).__name__)


async def _post(url: str, body: bytes, headers: Mapping[str, str], seconds: float) -> Attempt:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.post(url, data=body, headers=dict(headers), allow_redirects=False) as response,
        ):
            status = response.status
            answer = await response.content.read(_SNIPPET * 4)
    except TimeoutError:
        return Attempt(False, True, None, f"timed out after {seconds:g} s")
    except (aiohttp.ClientError, OSError, ValueError) as error:
        return Attempt(False, True, None, _error_text(error, url))
    if 200 <= status < 300:
        return Attempt(True, False, status)
    snippet = _clean(answer.decode("utf-8", "replace"), _SNIPPET)
    retry = status in _RETRY_STATUSES or status >= 500
    return Attempt(False, retry, status, f"HTTP {status}" + (f": {snippet}" if snippet else ""))


def _headers(message: Message) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": f"tollway/{__version__}",
        "x-tollway-event-id": message.event_id,
    }


async def send_webhook(channel: Channel, message: Message, settings: DeliverySettings) -> Attempt:
    """One signed POST of the event's JSON body."""
    body = orjson.dumps(webhook_body(message.event_id, message.created, message.payload))
    headers = _headers(message)
    headers[SIGNATURE_HEADER] = signature_header(channel.secret or "", body)
    return await _post(channel.url or "", body, headers, settings.timeout)


async def send_slack(channel: Channel, message: Message, settings: DeliverySettings) -> Attempt:
    """One POST of the Slack payload to the incoming webhook."""
    body = orjson.dumps(slack_payload(message.event_id, message.payload))
    return await _post(channel.url or "", body, _headers(message), settings.timeout)


def _email(channel: Channel, server: SmtpServer, message: Message) -> EmailMessage:
    # The email modules and smtplib are imported by the email path only: every gateway worker imports this module
    # (alerting runs in each), few ever send an email.
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    subject, text = email_parts(message.event_id, message.payload)
    email = EmailMessage()
    email["Subject"] = subject
    email["From"] = server.sender
    email["To"] = ", ".join(channel.to)
    email["Date"] = format_datetime(message.created)
    email["Message-ID"] = make_msgid(idstring=message.event_id, domain="tollway.alerts")
    email["X-Tollway-Event-Id"] = message.event_id
    email.set_content(text)
    return email


def _smtp_send(server: SmtpServer, email: EmailMessage, to: tuple[str, ...], timeout: float) -> None:
    """Blocking: connect, secure, log in, send (run in a worker thread)."""
    import smtplib
    import ssl

    context = ssl.create_default_context()
    client = (
        smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
        if server.ssl
        else smtplib.SMTP(server.host, server.port, timeout=timeout)
    )
    with client:
        if server.starttls:
            client.starttls(context=context)
        if server.username is not None:
            client.login(server.username, server.password or "")
        client.send_message(email, from_addr=server.sender, to_addrs=list(to))


async def send_email(channel: Channel, message: Message, settings: DeliverySettings) -> Attempt:
    """One SMTP transaction to every address of the channel."""
    import smtplib

    server = channel.smtp or settings.smtp
    if server is None:
        return Attempt(False, False, None, "no SMTP server: set the channel's smtp or general_settings.alerts_smtp")
    try:
        email = _email(channel, server, message)
        await asyncio.to_thread(_smtp_send, server, email, channel.to, settings.timeout)
    except (smtplib.SMTPException, OSError, ValueError) as error:
        return _smtp_failure(error, settings.timeout)
    return Attempt(True)


def _smtp_failure(error: Exception, seconds: float) -> Attempt:
    """A failed SMTP attempt: 4xx replies, timeouts and lost connections are worth retrying; 5xx replies and a
    message the email package refuses (``ValueError``) are not."""
    import smtplib

    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return Attempt(False, all(400 <= code < 500 for code in codes), None, _clean(f"recipients refused: {codes}"))
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return Attempt(False, 400 <= error.smtp_code < 500, None, _clean(f"SMTP {error.smtp_code}: {reply}"))
    if isinstance(error, TimeoutError):
        return Attempt(False, True, None, f"timed out after {seconds:g} s")
    retry = not isinstance(error, ValueError)
    return Attempt(False, retry, None, _clean(f"{type(error).__name__}: {error}"))


SENDERS: Mapping[str, Sender] = MappingProxyType({"webhook": send_webhook, "slack": send_slack, "email": send_email})


async def send_once(channel: Channel, message: Message, settings: DeliverySettings) -> Attempt:
    """One attempt through the channel type's sender."""
    return await SENDERS[channel.type](channel, message, settings)


async def deliver(
    channel: Channel,
    message: Message,
    settings: DeliverySettings,
    record: Callable[[Attempt, bool], Awaitable[None]],
    *,
    send: Sender = send_once,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Attempt:
    """Try until delivered, refused for good, or out of attempts; ``record(attempt, final)`` after each try."""
    delays = settings.delays()
    for number in range(1, settings.attempts + 1):
        attempt = await send(channel, message, settings)
        final = attempt.delivered or not attempt.retry or number == settings.attempts
        await record(attempt, final)
        if final:
            return attempt
        await sleep(delays[number - 1])
    raise AssertionError("unreachable: the last attempt is final")  # pragma: no cover
