"""Billing export settings (``general_settings.billing_export``): what is accepted, what each bad value says, secrets
never quoted; and the retry policy (which answers are retried, halted or refused; backoff; ``Retry-After``)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tollway.economics.export_backoff import (
    Answer,
    RetryPolicy,
    backoff_delay,
    retry_after,
    send_with_retries,
    status_kind,
)
from tollway.economics.export_settings import ExportSettings, ExportSettingsError

ENV = {"STRIPE_API_KEY": "sk_test_from_env", "OM_TOKEN": "om-secret"}


def parse(raw: Any) -> ExportSettings:
    return ExportSettings.parse(raw, ENV)


def test_a_full_configuration() -> None:
    settings = parse(
        {
            "interval": 5,
            "batch_size": 250,
            "backfill": True,
            "stripe": {
                "api_key": "os.environ/STRIPE_API_KEY",
                "api_base": "http://127.0.0.1:9/",
                "event_name": "llm_cost",
                "value": "cost",
                "markup": 1.2,
                "cost_unit": "0.0001",
            },
            "cloudevents": {"url": "https://om.example/api/v1/events", "token": "os.environ/OM_TOKEN", "source": "eu"},
        }
    )
    assert settings.exporters == ("stripe", "cloudevents")
    assert (settings.interval, settings.batch_size, settings.backfill) == (5.0, 250, True)
    stripe = settings.stripe
    assert stripe is not None
    assert (stripe.api_key, stripe.api_base, stripe.value) == ("sk_test_from_env", "http://127.0.0.1:9", "cost")
    assert (stripe.markup, stripe.cost_unit) == (Decimal("1.2"), Decimal("0.0001"))  # exact, not 1.19999...
    assert "sk_test" not in repr(stripe)
    events = settings.cloudevents
    assert events is not None
    assert (events.token, events.source, events.type) == ("om-secret", "eu", "tollway.llm.usage")
    assert "om-secret" not in repr(events)


def test_defaults_and_token_type_lists() -> None:
    settings = parse({"stripe": {"api_key": "sk_x", "event_name": "tokens", "token_types": ["input", "output"]}})
    assert (settings.interval, settings.batch_size, settings.backfill, settings.exporters) == (
        10.0,
        100,
        False,
        ("stripe",),
    )
    assert settings.stripe is not None
    assert dict(settings.stripe.token_types) == {"input": "tokens", "output": "tokens"}
    assert settings.stripe.markup == 1
    assert ExportSettings.from_config({}, ENV) is None
    assert ExportSettings.from_config({"billing_export": {"cloudevents": {"url": "http://x"}}}, ENV) is not None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("yes", "billing_export: expected a mapping"),
        ({}, "configure stripe, cloudevents or both"),
        ({"stripe": {"api_key": "k", "event_name": "e"}, "bogus": 1}, "unknown setting bogus"),
        ({"stripe": {"event_name": "e"}}, "stripe.api_key: expected a non-empty string (value hidden)"),
        ({"stripe": {"api_key": "os.environ/NOPE", "event_name": "e"}}, "environment variable NOPE"),
        ({"stripe": {"api_key": "k"}}, "stripe.event_name: expected a non-empty string"),
        ({"stripe": {"api_key": "k", "event_name": "e" * 101}}, "at most 100 characters"),
        ({"stripe": {"api_key": "k", "event_name": "e", "value": "requests"}}, "expected tokens or cost"),
        ({"stripe": {"api_key": "k", "event_name": "e", "markup": 2}}, "stripe.markup: only with value: cost"),
        ({"stripe": {"api_key": "k", "event_name": "e", "value": "cost", "markup": 0}}, "positive decimal"),
        ({"stripe": {"api_key": "k", "event_name": "e", "value": "cost", "markup": "abc"}}, "positive decimal"),
        ({"stripe": {"api_key": "k", "event_name": "e", "value": "cost", "markup": "NaN"}}, "positive decimal"),
        ({"stripe": {"api_key": "k", "event_name": "e", "value": "cost", "cost_unit": -1}}, "positive decimal"),
        ({"stripe": {"api_key": "k", "event_name": "e", "token_types": ["images"]}}, "unknown token type 'images'"),
        ({"stripe": {"api_key": "k", "event_name": "e", "token_types": ["input", "input"]}}, "input appears twice"),
        ({"stripe": {"api_key": "k", "event_name": "e", "token_types": []}}, "name at least one token type"),
        ({"stripe": {"api_key": "k", "event_name": "e", "token_types": "input"}}, "expected a list of token types"),
        (
            {"stripe": {"api_key": "k", "event_name": "e", "value": "cost", "token_types": ["input"]}},
            "only with value: tokens",
        ),
        ({"stripe": {"api_key": "k", "event_name": "e", "api_base": "ftp://x"}}, "expected an http:// or https://"),
        ({"cloudevents": {"url": "not a url"}}, "cloudevents.url: expected an http:// or https:// URL"),
        ({"cloudevents": {"url": "http://x", "token": ""}}, "cloudevents.token: expected a non-empty string"),
        ({"cloudevents": {"url": "http://x"}, "batch_size": 0}, "batch_size: expected a number from 1 to 1000"),
        ({"cloudevents": {"url": "http://x"}, "batch_size": 5000}, "from 1 to 1000"),
        ({"cloudevents": {"url": "http://x"}, "interval": "soon"}, "interval: expected a number"),
        ({"cloudevents": {"url": "http://x"}, "interval": float("inf")}, "interval: expected a number"),
        ({"cloudevents": {"url": "http://x"}, "backfill": "yes"}, "backfill: expected true or false"),
    ],
)
def test_bad_settings_name_the_setting(raw: Any, message: str) -> None:
    with pytest.raises(ExportSettingsError, match=r"general_settings\.billing_export") as caught:
        parse(raw)
    assert message in str(caught.value)


def test_a_secret_is_never_quoted() -> None:
    with pytest.raises(ExportSettingsError) as caught:
        parse({"stripe": {"api_key": ["sk_live_secret"], "event_name": "e"}})
    assert "sk_live_secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, "ok"), (204, "ok"), (None, "retry"), (429, "retry"), (409, "retry"), (500, "retry"), (503, "retry")],
)
def test_retried_answers(status: int | None, kind: str) -> None:
    assert status_kind(status) == kind


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "halt"), (403, "halt"), (404, "halt"), (302, "halt"), (400, "rejected"), (422, "rejected")],
)
def test_halting_and_refusing_answers(status: int, kind: str) -> None:
    assert status_kind(status) == kind


def test_backoff_grows_to_its_cap_with_jitter_within_half() -> None:
    delays = [backoff_delay(n, base=0.5, cap=4, rng=lambda: 1.0) for n in range(1, 7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_delay(3, base=0.5, cap=4, rng=lambda: 0.0) == 1.0  # never less than half


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    assert retry_after({"Retry-After": "3"}, cap=30) == 3.0
    assert retry_after({"retry-after": "300"}, cap=30) == 30.0
    assert retry_after({"Retry-After": "Sun, 01 Jun 2025 12:00:10 GMT"}, cap=30, now=now) == 10.0
    assert retry_after({"Retry-After": "Sun, 01 Jun 2025 11:00:00 GMT"}, cap=30, now=now) == 0.0
    assert retry_after({"Retry-After": "soon"}, cap=30) is None
    assert retry_after({"Retry-After": "nan"}, cap=30) is None
    assert retry_after(None, cap=30) is None


async def test_send_with_retries_waits_then_succeeds_and_gives_up_after_its_attempts() -> None:
    answers = [Answer(503, "down"), Answer(429, "slow", {"Retry-After": "2"}), Answer(200)]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def send() -> Answer:
        return answers.pop(0)

    outcome = await send_with_retries(send, RetryPolicy(5, 0.1, 10), sleep=sleep, rng=lambda: 0.0)
    assert outcome.kind == "delivered"
    assert waits == [0.05, 2.0]  # the second wait is the server's Retry-After, longer than the backoff
    answers[:] = [Answer(500, "boom")] * 3
    waits.clear()
    failed = await send_with_retries(send, RetryPolicy(3, 0.1, 10), sleep=sleep, rng=lambda: 0.0)
    assert (failed.kind, failed.status, failed.detail, len(waits)) == ("failed", 500, "boom", 2)
    answers[:] = [Answer(400, "bad", duplicate=True)]
    assert (await send_with_retries(send, RetryPolicy(), sleep=sleep, rng=lambda: 0.0)).kind == "duplicate"
    answers[:] = [Answer(401, "bad key")]
    assert (await send_with_retries(send, RetryPolicy(), sleep=sleep, rng=lambda: 0.0)).kind == "halt"
