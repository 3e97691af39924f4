"""The pure side of alerts: rule validation (every bad field named), redaction of secrets, PATCH semantics, webhook
signatures, what each rule kind raises from given numbers (thresholds once each, suppression, margin and anomaly
edges), and the channel payloads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from alerts_support import SECRET, rule_of

from tollway.economics.alerts import apply_changes, parse_smtp, redact_url
from tollway.economics.alerts_eval import (
    AnomalyStatus,
    BudgetStatus,
    MarginStatus,
    anomaly_alerts,
    budget_alerts,
    margin_alerts,
    margin_window,
)
from tollway.economics.alerts_format import email_parts, slack_payload, webhook_body
from tollway.economics.alerts_signing import SignatureError, sign, signature_header, verify
from tollway.governance.records import InvalidFieldError

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
HOOK = {"type": "webhook", "url": "https://hooks.example.com/tollway/abc?token=s3cr3t", "secret": SECRET}
SLACK = {"type": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXXSECRET"}
BUDGET = {"name": "team budgets", "kind": "budget", "scope": {"entity": "team", "ids": None}, "channels": [HOOK]}


def invalid(payload: dict[str, Any]) -> str:
    with pytest.raises(InvalidFieldError) as caught:
        rule_of(payload)
    return caught.value.field


def test_a_budget_rule_gets_the_default_thresholds() -> None:
    rule = rule_of(BUDGET)
    assert rule.thresholds == (Decimal(50), Decimal(80), Decimal(100))
    assert rule.to_api()["thresholds"] == ["50", "80", "100"]
    assert rule.ids is None


def test_margin_and_anomaly_defaults() -> None:
    margin = rule_of({**BUDGET, "kind": "margin", "scope": {"entity": "customer"}, "margin_pct": "10.5"})
    assert (margin.margin_pct, margin.period_days, margin.min_amount) == (Decimal("10.5"), 30, Decimal(0))
    anomaly = rule_of({**BUDGET, "kind": "anomaly", "scope": {"entity": "all"}})
    assert (anomaly.factor, anomaly.period_days, anomaly.min_amount) == (Decimal(3), 7, Decimal(1))
    assert set(anomaly.to_api()) >= {"factor", "period_days", "min_amount"}
    assert "thresholds" not in anomaly.to_api()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "budgets"}, "kind"),
        ({"kind": None}, "kind"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "bad\nname"}, "name"),
        ({"scope": None}, "scope"),
        ({"scope": "team"}, "scope"),
        ({"scope": {"entity": "feature"}}, "scope.entity"),
        ({"scope": {"entity": "team", "ids": []}}, "scope.ids"),
        ({"scope": {"entity": "team", "ids": [""]}}, "scope.ids[0]"),
        ({"scope": {"entity": "team", "ids": ["a", 5]}}, "scope.ids[1]"),
        ({"scope": {"entity": "team", "extra": 1}}, "scope.extra"),
        ({"thresholds": []}, "thresholds"),
        ({"thresholds": "50"}, "thresholds"),
        ({"thresholds": [50, "abc"]}, "thresholds[1]"),
        ({"thresholds": [0]}, "thresholds[0]"),
        ({"thresholds": [-5]}, "thresholds[0]"),
        ({"thresholds": [5000]}, "thresholds[0]"),
        ({"thresholds": [True]}, "thresholds[0]"),
        ({"thresholds": ["NaN"]}, "thresholds[0]"),
        ({"thresholds": [50, 50.0]}, "thresholds"),
        ({"margin_pct": 10}, "margin_pct"),
        ({"factor": 2}, "factor"),
        ({"enabled": "yes"}, "enabled"),
        ({"channels": []}, "channels"),
        ({"channels": [HOOK] * 11}, "channels"),
        ({"channels": ["https://x"]}, "channels[0]"),
        ({"channels": [{"type": "pager"}]}, "channels[0].type"),
        ({"channels": [{**HOOK, "url": "ftp://x/y"}]}, "channels[0].url"),
        ({"channels": [{**HOOK, "url": "https:///nohost"}]}, "channels[0].url"),
        ({"channels": [{**HOOK, "url": "https://a.b/with space"}]}, "channels[0].url"),
        ({"channels": [{**HOOK, "url": "https://a.b/" + "x" * 2050}]}, "channels[0].url"),
        ({"channels": [{**HOOK, "url": "https://a.b:99999/"}]}, "channels[0].url"),
        ({"channels": [{**HOOK, "secret": "short"}]}, "channels[0].secret"),
        ({"channels": [{**HOOK, "secret": "***" + "x" * 20}]}, "channels[0].secret"),
        ({"channels": [{**SLACK, "url": "https://hooks.slack.com/***"}]}, "channels[0].url"),
        ({"channels": [{**SLACK, "secret": SECRET}]}, "channels[0].secret"),
        ({"channels": [HOOK, {"type": "email", "to": "not-an-address"}]}, "channels[1].to"),
        ({"channels": [{"type": "email", "to": ["a@b.co", "x"]}]}, "channels[0].to[1]"),
        ({"channels": [{"type": "email", "to": "a@b.co\r\nBcc: evil@x.io"}]}, "channels[0].to"),
        ({"channels": [{"type": "email", "to": []}]}, "channels[0].to"),
        ({"channels": [{"type": "email", "to": "a@b.co", "smtp": {"host": "smtp.x.io"}}]}, "channels[0].smtp.from"),
        (
            {"channels": [{"type": "email", "to": "a@b.co", "smtp": {"host": "a b", "from": "a@b.co"}}]},
            "channels[0].smtp.host",
        ),
    ],
)
def test_each_bad_field_is_named(change: dict[str, Any], field: str) -> None:
    assert invalid({**BUDGET, **change}) == field


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**BUDGET, "kind": "margin", "scope": {"entity": "customer"}}, "margin_pct"),
        ({**BUDGET, "kind": "margin", "scope": {"entity": "team"}, "margin_pct": 5}, "scope.entity"),
        ({**BUDGET, "kind": "margin", "scope": {"entity": "customer"}, "margin_pct": 101}, "margin_pct"),
        (
            {**BUDGET, "kind": "margin", "scope": {"entity": "customer"}, "margin_pct": 5, "period_days": 0},
            "period_days",
        ),
        (
            {**BUDGET, "kind": "margin", "scope": {"entity": "customer"}, "margin_pct": 5, "period_days": 1.5},
            "period_days",
        ),
        ({**BUDGET, "kind": "anomaly", "scope": {"entity": "all", "ids": ["x"]}}, "scope.ids"),
        ({**BUDGET, "kind": "anomaly", "scope": {"entity": "all"}, "factor": 1}, "factor"),
        ({**BUDGET, "kind": "anomaly", "scope": {"entity": "all"}, "min_amount": "-1"}, "min_amount"),
        ({**BUDGET, "kind": "anomaly", "scope": {"entity": "all"}, "min_amount": "0.0000000000001"}, "min_amount"),
        ({**BUDGET, "kind": "anomaly", "scope": {"entity": "all"}, "thresholds": [50]}, "thresholds"),
    ],
)
def test_kind_specific_fields_are_checked(payload: dict[str, Any], field: str) -> None:
    assert invalid(payload) == field


def test_an_email_channel_needs_an_smtp_server_when_the_gateway_has_none() -> None:
    from tollway.economics.alerts import parse_rule

    payload = {**BUDGET, "channels": [{"type": "email", "to": "ops@example.com"}]}
    with pytest.raises(InvalidFieldError) as caught:
        parse_rule(payload, rule_id="r", now=NOW, smtp_default=False)
    assert caught.value.field == "channels[0].smtp"
    assert parse_rule(payload, rule_id="r", now=NOW, smtp_default=True).channels[0].to == ("ops@example.com",)


def test_secrets_are_never_shown_in_full() -> None:
    smtp = {"host": "smtp.example.com", "from": "alerts@example.com", "username": "u", "password": "hunter2-long-pw"}
    rule = rule_of({**BUDGET, "channels": [HOOK, SLACK, {"type": "email", "to": ["a@example.com"], "smtp": smtp}]})
    shown = rule.to_api()["channels"]
    assert shown[0] == {"type": "webhook", "url": "https://hooks.example.com/***", "secret": "***cdef"}
    assert shown[1] == {"type": "slack", "url": "https://hooks.slack.com/***"}
    assert shown[2]["smtp"]["password"] == "***"
    assert shown[2]["smtp"]["username"] == "u"
    text = repr(rule.to_api())
    for secret in (SECRET, "s3cr3t", "XXXXSECRET", "hunter2-long-pw"):
        assert secret not in text
    assert rule.generated_secrets() == []


def test_a_missing_webhook_secret_is_generated_and_shown_once() -> None:
    rule = rule_of({**BUDGET, "channels": [{"type": "webhook", "url": "https://a.example.com/h"}]})
    secret = rule.channels[0].secret
    assert secret is not None
    assert secret.startswith("whsec_")
    assert len(secret) > 30
    assert rule.generated_secrets() == [{"channel": 0, "secret": secret}]
    assert secret not in repr(rule.to_api())


def test_redact_url() -> None:
    assert redact_url("https://h.example.com") == "https://h.example.com"
    assert redact_url("http://127.0.0.1:8080/hook?x=1") == "http://127.0.0.1:8080/***"
    assert redact_url("http://[::1") == "***"


def test_patch_replaces_fields_keeps_channels_and_refuses_a_kind_change() -> None:
    rule = rule_of(BUDGET, NOW)
    later = datetime(2025, 6, 2, tzinfo=UTC)
    changed = apply_changes(rule, {"name": "renamed", "thresholds": [90]}, now=later, updated_by="sk-...abcd")
    assert (changed.name, changed.thresholds, changed.channels) == ("renamed", (Decimal(90),), rule.channels)
    assert (changed.created_at, changed.updated_at, changed.updated_by) == (NOW, later, "sk-...abcd")
    assert changed.id == rule.id
    back = apply_changes(changed, {"thresholds": None, "enabled": None, "channels": None}, now=later, updated_by=None)
    assert (back.thresholds, back.enabled, back.channels) == (
        (Decimal(50), Decimal(80), Decimal(100)),
        True,
        rule.channels,
    )
    slack = apply_changes(rule, {"channels": [SLACK]}, now=later, updated_by=None)
    assert [channel.type for channel in slack.channels] == ["slack"]
    with pytest.raises(InvalidFieldError) as caught:
        apply_changes(rule, {"kind": "anomaly"}, now=later, updated_by=None)
    assert caught.value.field == "kind"
    # A rule read from the API and written back: its redacted secret is refused, never stored.
    with pytest.raises(InvalidFieldError) as caught:
        apply_changes(rule, {"channels": rule.to_api()["channels"]}, now=later, updated_by=None)
    assert caught.value.field.startswith("channels[0]")


def test_smtp_settings() -> None:
    server = parse_smtp({"host": "smtp.example.com", "from": "a@example.com", "starttls": True}, "smtp")
    assert (server.port, server.starttls, server.ssl) == (587, True, False)
    assert parse_smtp({"host": "h", "from": "a@example.com", "ssl": True}, "smtp").port == 465
    with pytest.raises(InvalidFieldError, match=r"smtp\.ssl"):
        parse_smtp({"host": "h", "from": "a@example.com", "ssl": True, "starttls": True}, "smtp")
    with pytest.raises(InvalidFieldError, match=r"smtp\.password"):
        parse_smtp({"host": "h", "from": "a@example.com", "password": "***"}, "smtp")


# -- signatures -----------------------------------------------------------------------------------------------------


def test_a_signature_verifies_and_a_changed_body_or_old_stamp_does_not() -> None:
    body = b'{"id": "e1"}'
    header = signature_header(SECRET, body, timestamp=1_700_000_000)
    assert header == f"t=1700000000,v1={sign(SECRET, 1_700_000_000, body)}"
    assert verify(SECRET, body, header, now=1_700_000_100) == 1_700_000_000
    with pytest.raises(SignatureError, match="no v1 signature"):
        verify(SECRET, body + b" ", header, now=1_700_000_100)
    with pytest.raises(SignatureError, match="no v1 signature"):
        verify("whsec_another_secret_0000000000", body, header, now=1_700_000_100)
    with pytest.raises(SignatureError, match="old"):
        verify(SECRET, body, header, now=1_700_001_000)
    for broken in (None, "", "v1=abc", "t=x,v1=abc", "t=1,t=2,v1=abc"):
        with pytest.raises(SignatureError):
            verify(SECRET, body, broken, now=1)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"42.hello", hashlib.sha256).hexdigest()
    assert sign(SECRET, 42, b"hello") == expected


# -- evaluation -----------------------------------------------------------------------------------------------------


def budget(spent: str, period: str = "1d:2025-06-01T00:00:00Z", max_budget: str = "10") -> BudgetStatus:
    return BudgetStatus("team", "t1", Decimal(max_budget), Decimal(spent), period, "1d", None, "Team One")


def test_budget_thresholds_reached_and_the_highest_delivered() -> None:
    rule = rule_of(BUDGET)
    assert budget_alerts(rule, [budget("4.99")]) == []
    [half] = budget_alerts(rule, [budget("5")])
    assert (half.threshold, half.deliver, half.data["percent"], half.data["spend"]) == ("50", True, "50", "5")
    assert half.title == "team t1 (Team One) reached 50% of its 1d budget"
    reached = budget_alerts(rule, [budget("10.5")])
    assert [(a.threshold, a.deliver) for a in reached] == [("50", False), ("80", False), ("100", True)]
    assert reached[2].data["percent"] == "105"
    # Same threshold, same period: one key. Next period, or another max_budget: another key.
    assert half.dedupe_key == budget_alerts(rule, [budget("6")])[0].dedupe_key
    assert half.dedupe_key != budget_alerts(rule, [budget("6", period="1d:2025-06-02T00:00:00Z")])[0].dedupe_key
    assert half.dedupe_key != budget_alerts(rule, [budget("6", max_budget="11")])[0].dedupe_key
    assert budget_alerts(rule, [budget("1", max_budget="0")]) == []


def test_margin_window_blocks() -> None:
    # Blocks of 30 days counted from day 1 of the calendar: 2025-06-08 starts one (its ordinal divides by 30).
    assert date(2025, 6, 8).toordinal() % 30 == 0
    assert margin_window(date(2025, 6, 10), 30) == (date(2025, 5, 12), date(2025, 6, 10), "2025-06-08+30d")
    assert margin_window(date(2025, 7, 7), 30)[2] == "2025-06-08+30d"
    assert margin_window(date(2025, 7, 8), 30)[2] == "2025-07-08+30d"
    assert margin_window(date(2025, 6, 10), 1) == (date(2025, 6, 10), date(2025, 6, 10), "2025-06-10+1d")


def test_margin_alerts() -> None:
    rule = rule_of({**BUDGET, "kind": "margin", "scope": {"entity": "customer"}, "margin_pct": "10", "min_amount": "1"})
    statuses = [
        MarginStatus("good", Decimal(100), Decimal(50)),  # 50 %
        MarginStatus("edge", Decimal(100), Decimal(90)),  # exactly 10 %: not below
        MarginStatus("thin", Decimal(100), Decimal("90.01")),  # 9.99 %
        MarginStatus("loss", Decimal(20), Decimal(35)),  # -75 %
        MarginStatus("free", Decimal(0), Decimal(5)),  # no revenue
        MarginStatus("tiny", Decimal(0), Decimal("0.5")),  # below min_amount
    ]
    alerts = margin_alerts(rule, statuses, date(2025, 6, 10))
    assert [(a.subject_id, a.data["margin_pct"]) for a in alerts] == [("thin", "9.99"), ("loss", "-75"), ("free", None)]
    assert alerts[1].data == {
        "currency": "USD",
        "start": "2025-05-12",
        "end": "2025-06-10",
        "revenue": "20",
        "cost": "35",
        "margin": "-15",
        "margin_pct": "-75",
        "threshold_pct": "10",
    }
    assert "no revenue" in alerts[2].title


def test_anomaly_alerts() -> None:
    rule = rule_of({**BUDGET, "kind": "anomaly", "scope": {"entity": "customer"}, "min_amount": "1"})
    day = date(2025, 6, 8)
    statuses = [
        AnomalyStatus("customer", "spike", day, Decimal(5), Decimal(7), 7),  # avg 1: 5 > 3
        AnomalyStatus("customer", "steady", day, Decimal(5), Decimal(14), 7),  # avg 2: 5 < 6
        AnomalyStatus("customer", "exactly", day, Decimal(3), Decimal(7), 7),  # 3 = 3 x 1: not above
        AnomalyStatus("customer", "new", day, Decimal(2), Decimal(0), 7),  # no history, above min_amount
        AnomalyStatus("customer", "small", day, Decimal("0.5"), Decimal(0), 7),  # below min_amount
        AnomalyStatus("customer", "quiet", day, Decimal(0), Decimal(0), 7),
    ]
    alerts = anomaly_alerts(rule, statuses)
    assert [a.subject_id for a in alerts] == ["spike", "new"]
    assert alerts[0].data["average"] == "1"
    assert alerts[0].period == "2025-06-08"
    assert "5x" in alerts[0].title
    assert "no spend before" in alerts[1].title


# -- payloads -------------------------------------------------------------------------------------------------------


def test_channel_payloads() -> None:
    [alert] = budget_alerts(rule_of(BUDGET), [budget("5")])
    payload = alert.payload()
    body = webhook_body("e1", NOW, payload)
    assert body["id"] == "e1"
    assert body["created"] == int(NOW.timestamp())
    assert body["type"] == "alert.budget"
    assert body["subject"] == {"kind": "team", "id": "t1", "name": "Team One"}
    slack = slack_payload("e1", payload)
    assert slack["text"].startswith(alert.title)
    assert [block["type"] for block in slack["blocks"]] == ["header", "section", "context"]
    assert slack["blocks"][0]["text"] == {"type": "plain_text", "text": alert.title}
    assert slack["blocks"][1]["text"]["type"] == "mrkdwn"
    long = slack_payload("e1", {**payload, "title": "t" * 400})
    assert len(long["blocks"][0]["text"]["text"]) == 150
    subject, text = email_parts("e1", {**payload, "title": "two\r\nlines"})
    assert subject == "[Tollway] two lines"
    assert "spend: 5" in text
    assert "event e1" in text
