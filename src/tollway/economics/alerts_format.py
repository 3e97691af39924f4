"""What each channel sends for one alert event (pure): the webhook's JSON body, Slack's incoming-webhook payload, and
the email's subject and text.

Webhook body (signed: ``tollway.economics.alerts_signing``)::

    {"id": "<event id>", "created": <unix seconds>, "type": "alert.budget" | "alert.margin" | "alert.anomaly" |
     "alert.test", "rule": {"id", "name", "kind"}, "subject": {"kind", "id", "name"}, "period", "threshold",
     "title", "text", "data": {... amounts as decimal strings, "currency": "USD"}}

Slack: ``{"text": <title and text>, "blocks": [header, section, context]}`` (Block Kit; ``text`` is the
notification fallback Slack requires beside blocks).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

__all__ = ["email_parts", "slack_payload", "webhook_body"]

_HEADER_LIMIT = 150  # Slack's limit on a header block's text
_SECTION_LIMIT = 3000  # and on a section's


def webhook_body(event_id: str, created: datetime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The webhook's JSON object: the event's id and time, then the alert's payload."""
    return {"id": event_id, "created": int(created.timestamp()), **payload}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(event_id: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook message for the alert."""
    title, text = str(payload.get("title", "")), str(payload.get("text", ""))
    rule = payload.get("rule") or {}
    context = f"Tollway alert · rule {rule.get('name', '')!s} ({rule.get('kind', '')!s}) · event {event_id}"
    return {
        "text": f"{title}\n{text}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _clip(title, _HEADER_LIMIT)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, _SECTION_LIMIT)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(context, _SECTION_LIMIT)}]},
        ],
    }


def email_parts(event_id: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """The email's subject and plain-text body."""
    title = " ".join(str(payload.get("title", "")).split())  # one line: a header cannot hold a line break
    lines = [str(payload.get("text", "")), ""]
    data = payload.get("data") or {}
    lines.extend(f"{name}: {value}" for name, value in data.items() if value is not None)
    rule = payload.get("rule") or {}
    lines.extend(["", f"Rule: {rule.get('name', '')} ({rule.get('id', '')}); event {event_id}.", "-- Tollway"])
    return f"[Tollway] {_clip(title, 200)}", "\n".join(lines) + "\n"
