"""Alert delivery against local receivers (an aiohttp server, an aiosmtpd server), over SQLite and PostgreSQL: the
webhook signature verifies at the receiver, Slack gets its payload shape, email arrives; a 500 or a hanging
receiver is retried with backoff and ends as a recorded failed delivery (attempts, HTTP status, last error), never
an exception or a lost alert; answers that retrying cannot fix fail at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from alerts_support import SECRET, Clock, Sleeps, engine_of, rule_of
from econ_support import governance

from fakes.alert_receivers import HANG, HttpReceiver, SmtpReceiver, free_port
from tollway.economics.alerts_signing import verify
from tollway.governance.service import Governance

__all__ = ["governance"]  # a fixture, imported for pytest


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver() as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as running:
        yield running


def budget_rule(*channels: dict[str, Any]) -> Any:
    return rule_of({"name": "ops", "kind": "budget", "scope": {"entity": "team"}, "channels": list(channels)})


def webhook(receiver: HttpReceiver, path: str = "/hook") -> dict[str, Any]:
    return {"type": "webhook", "url": receiver.url(path), "secret": SECRET}


async def test_the_webhook_is_signed_and_the_receiver_can_verify_it(
    governance: Governance, receiver: HttpReceiver
) -> None:
    event = await engine_of(governance, Clock()).trial(budget_rule(webhook(receiver)))
    [request] = receiver.to("/hook")
    header = request.headers["x-tollway-signature"]
    assert header.startswith("t=")
    verify(SECRET, request.body, header)  # raises unless the HMAC of "t.body" matches
    body = request.json()
    assert body["id"] == event["id"] == request.headers["x-tollway-event-id"]
    assert body["type"] == "alert.test"
    assert body["rule"]["name"] == "ops"
    assert request.headers["content-type"] == "application/json"
    assert event["status"] == "delivered"
    assert event["deliveries"][0] | {"updated_at": None, "created_at": None, "delivered_at": None, "id": None} == {
        "id": None,
        "channel": "webhook",
        "target": f"http://127.0.0.1:{receiver.port}/***",
        "status": "delivered",
        "attempts": 1,
        "last_error": None,
        "http_status": 200,
        "created_at": None,
        "updated_at": None,
        "delivered_at": None,
    }


async def test_slack_gets_text_and_blocks(governance: Governance, receiver: HttpReceiver) -> None:
    rule = budget_rule({"type": "slack", "url": receiver.url("/services/T0/B0/xyz")})
    event = await engine_of(governance, Clock()).trial(rule)
    [request] = receiver.to("/services/T0/B0/xyz")
    body = request.json()
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("Test alert of rule 'ops'")
    assert [block["type"] for block in body["blocks"]] == ["header", "section", "context"]
    assert "x-tollway-signature" not in request.headers
    assert event["deliveries"][0]["target"] == f"http://127.0.0.1:{receiver.port}/***"


async def test_email_arrives_over_smtp(governance: Governance, smtp: SmtpReceiver) -> None:
    server = {"host": "127.0.0.1", "port": smtp.port, "from": "alerts@tollway.test"}
    rule = budget_rule({"type": "email", "to": ["ops@example.com", "cfo@example.com"], "smtp": server})
    event = await engine_of(governance, Clock()).trial(rule)
    assert event["status"] == "delivered"
    [received] = smtp.messages
    assert received.sender == "alerts@tollway.test"
    assert received.recipients == ["ops@example.com", "cfo@example.com"]
    message = received.message
    assert message["Subject"] == "[Tollway] Test alert of rule 'ops'"
    assert message["To"] == "ops@example.com, cfo@example.com"
    assert message["x-tollway-event-id"] == event["id"]
    assert "This is a test of the alert rule 'ops'" in message.get_payload()


async def test_email_uses_the_gateway_smtp_server_and_retries_a_4xx(governance: Governance, smtp: SmtpReceiver) -> None:
    from tollway.economics.alerts import parse_smtp

    server = parse_smtp({"host": "127.0.0.1", "port": smtp.port, "from": "gw@tollway.test"}, "alerts_smtp")
    smtp.reject("451 4.3.0 try again later")
    sleeps = Sleeps()
    engine = engine_of(governance, Clock(), smtp=server, sleeps=sleeps)
    event = await engine.trial(budget_rule({"type": "email", "to": "ops@example.com"}))
    assert event["status"] == "delivered"
    assert event["deliveries"][0]["attempts"] == 2
    assert sleeps.waits == [1.0]
    assert [m.sender for m in smtp.messages] == ["gw@tollway.test"]


async def test_an_smtp_5xx_fails_at_once(governance: Governance, smtp: SmtpReceiver) -> None:
    smtp.reject("554 5.7.1 rejected")
    server = {"host": "127.0.0.1", "port": smtp.port, "from": "alerts@tollway.test"}
    event = await engine_of(governance, Clock()).trial(budget_rule({"type": "email", "to": "a@b.co", "smtp": server}))
    [delivery] = event["deliveries"]
    assert (event["status"], delivery["attempts"]) == ("failed", 1)
    assert delivery["last_error"].startswith("SMTP 554")
    assert smtp.messages == []


async def test_a_500_is_retried_with_backoff_then_recorded_as_failed(
    governance: Governance, receiver: HttpReceiver
) -> None:
    receiver.script("/hook", 500, 500, 500)
    sleeps = Sleeps()
    event = await engine_of(governance, Clock(), attempts=3, sleeps=sleeps).trial(budget_rule(webhook(receiver)))
    assert len(receiver.to("/hook")) == 3
    assert sleeps.waits == [1.0, 2.0]
    [delivery] = event["deliveries"]
    assert (event["status"], delivery["status"], delivery["attempts"]) == ("failed", "failed", 3)
    assert delivery["http_status"] == 500
    assert delivery["last_error"] == "HTTP 500: scripted failure 500"
    assert delivery["delivered_at"] is None
    # Every attempt carried the same event id (receivers deduplicate on it).
    assert {r.headers["x-tollway-event-id"] for r in receiver.to("/hook")} == {event["id"]}
    history, total = await engine_of(governance, Clock()).store.history(status="failed")
    assert total == 1
    assert history[0]["id"] == event["id"]


async def test_a_hanging_receiver_times_out_and_is_recorded_as_failed(
    governance: Governance, receiver: HttpReceiver
) -> None:
    receiver.script("/hook", HANG, HANG)
    event = await engine_of(governance, Clock(), attempts=2, timeout=0.2).trial(budget_rule(webhook(receiver)))
    [delivery] = event["deliveries"]
    assert (event["status"], delivery["attempts"], delivery["http_status"]) == ("failed", 2, None)
    assert delivery["last_error"] == "timed out after 0.2 s"
    assert len(receiver.to("/hook")) == 2


async def test_a_500_then_a_200_is_delivered(governance: Governance, receiver: HttpReceiver) -> None:
    receiver.script("/hook", 503)
    event = await engine_of(governance, Clock()).trial(budget_rule(webhook(receiver)))
    [delivery] = event["deliveries"]
    assert (event["status"], delivery["attempts"], delivery["http_status"]) == ("delivered", 2, 200)
    assert delivery["last_error"] is None


async def test_a_404_or_a_redirect_fails_at_once(governance: Governance, receiver: HttpReceiver) -> None:
    receiver.script("/gone", 404)
    receiver.script("/moved", 302)
    engine = engine_of(governance, Clock())
    event = await engine.trial(budget_rule(webhook(receiver, "/gone"), webhook(receiver, "/moved")))
    assert [(d["status"], d["attempts"], d["http_status"]) for d in event["deliveries"]] == [
        ("failed", 1, 404),
        ("failed", 1, 302),
    ]


async def test_an_unreachable_receiver_fails_without_leaking_the_url(governance: Governance) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/secret-token-in-path?key=abc"
    rule = budget_rule({"type": "webhook", "url": url, "secret": SECRET})
    event = await engine_of(governance, Clock(), attempts=2).trial(rule)
    [delivery] = event["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)
    assert "secret-token-in-path" not in delivery["last_error"]
    assert "key=abc" not in delivery["last_error"]
    assert "Connect" in delivery["last_error"]


async def test_each_channel_has_its_own_delivery(governance: Governance, receiver: HttpReceiver) -> None:
    receiver.script("/bad", 400)
    rule = budget_rule(webhook(receiver, "/good"), webhook(receiver, "/bad"))
    event = await engine_of(governance, Clock()).trial(rule)
    assert [d["status"] for d in event["deliveries"]] == ["delivered", "failed"]
    assert event["status"] == "failed"
    assert event["attempts"] == 2
