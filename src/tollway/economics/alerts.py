"""Alert rules (``/alerts/rules``): the rule as a value, its validation, and its API shape with secrets redacted. Pure.

A rule watches one kind of entity (``scope``: ``{"entity": "team", "ids": ["t1"]}``, or ``"ids": null`` for every
one) and says where its alerts go (``channels``). Three kinds:

- ``budget``: ``thresholds`` (percent of ``max_budget`` in the entity's current budget period; default
  ``[50, 80, 100]``) on keys (by ``key_id``), users, teams or customers that have a ``max_budget``.
- ``margin``: customers whose margin over the trailing ``period_days`` (default 30) is below ``margin_pct`` %
  (revenue 0 with cost counts as below any threshold); customers that cost less than ``min_amount`` (default 0)
  are not judged.
- ``anomaly``: today's spend (UTC) of an entity above ``factor`` (default 3) times its average over the
  ``period_days`` (default 7) days before, and at least ``min_amount`` (default 1 USD, so tiny spends never page).
  Entities: key, user, team, customer, feature, model, tag, or ``all`` (the whole gateway; no ids).

Channels: ``{"type": "webhook", "url", "secret"?}`` (signed; a secret is generated when none is given, and shown in
full once, in the answer that created it), ``{"type": "slack", "url"}`` (an incoming-webhook URL) and
``{"type": "email", "to": "a@x" | [...], "smtp"?: {"host", "port", "username", "password", "from", "starttls",
"ssl"}}`` (without ``smtp``, the gateway's ``general_settings.alerts_smtp``).

``AlertRule.to_api()`` never shows a secret in full: webhook secrets keep their last four characters, SMTP passwords
none, and webhook and Slack URLs their scheme and host only (a Slack URL is itself the credential). A redacted value
sent back (``"***..."``) is refused, so reading a rule and writing it back can never store a mask as a secret.
Validation errors are ``InvalidFieldError`` naming the field (``channels[1].url``): the API's 400.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from tollway.governance.records import InvalidFieldError, money_str

__all__ = [
    "ANOMALY_ENTITIES",
    "BUDGET_ENTITIES",
    "KINDS",
    "MASK",
    "RULE_FIELDS",
    "AlertRule",
    "Channel",
    "Kind",
    "SmtpServer",
    "apply_changes",
    "parse_channel",
    "parse_rule",
    "parse_smtp",
    "redact_secret",
    "redact_url",
]

Kind = Literal["budget", "margin", "anomaly"]
KINDS: tuple[str, ...] = get_args(Kind)
BUDGET_ENTITIES = ("key", "user", "team", "customer")
ANOMALY_ENTITIES = ("key", "user", "team", "customer", "feature", "model", "tag", "all")
_ENTITIES: dict[str, tuple[str, ...]] = {
    "budget": BUDGET_ENTITIES,
    "margin": ("customer",),
    "anomaly": ANOMALY_ENTITIES,
}
RULE_FIELDS = (
    "name",
    "kind",
    "scope",
    "thresholds",
    "margin_pct",
    "period_days",
    "factor",
    "min_amount",
    "channels",
    "enabled",
)
_PARAMS: dict[str, tuple[str, ...]] = {
    "budget": ("thresholds",),
    "margin": ("margin_pct", "period_days", "min_amount"),
    "anomaly": ("factor", "period_days", "min_amount"),
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "budget": {"thresholds": ("50", "80", "100")},
    "margin": {"period_days": 30, "min_amount": "0"},
    "anomaly": {"factor": "3", "period_days": 7, "min_amount": "1"},
}
MASK = "***"
MAX_CHANNELS = 10
MAX_IDS = 1000
_EMAIL = re.compile(r"[^@\s,;<>()\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,253}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where an email channel's messages go: ``port`` 587 with STARTTLS, 465 with ``ssl``, else 25 by default."""

    host: str
    sender: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False

    def stored(self, *, reveal: bool) -> dict[str, Any]:
        """The API/storage shape; ``reveal=False`` masks the password."""
        password = self.password if reveal or self.password is None else MASK
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": password,
            "from": self.sender,
            "starttls": self.starttls,
            "ssl": self.ssl,
        }


@dataclass(frozen=True, slots=True)
class Channel:
    """One destination of a rule's alerts. ``generated``: the secret was made by the gateway (shown once)."""

    type: Literal["webhook", "slack", "email"]
    url: str | None = None
    secret: str | None = None
    to: tuple[str, ...] = ()
    smtp: SmtpServer | None = None
    generated: bool = False

    def stored(self, *, reveal: bool) -> dict[str, Any]:
        """The API shape (``reveal=False``: secrets redacted) or, revealed, the storage shape."""
        if self.type == "email":
            smtp = None if self.smtp is None else self.smtp.stored(reveal=reveal)
            return {"type": "email", "to": list(self.to), "smtp": smtp}
        url = self.url or ""
        shown: dict[str, Any] = {"type": self.type, "url": url if reveal else redact_url(url)}
        if self.type == "webhook":
            shown["secret"] = self.secret if reveal else redact_secret(self.secret or "")
        return shown

    def target(self) -> str:
        """What the history shows as this channel's destination (no secret in it)."""
        return ", ".join(self.to) if self.type == "email" else redact_url(self.url or "")


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A validated rule (see the module docstring). Money and percentages are Decimals; ``ids`` None = all."""

    id: str
    name: str
    kind: Kind
    entity: str
    ids: tuple[str, ...] | None
    channels: tuple[Channel, ...]
    thresholds: tuple[Decimal, ...] = ()
    margin_pct: Decimal | None = None
    period_days: int | None = None
    factor: Decimal | None = None
    min_amount: Decimal | None = None
    enabled: bool = True
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    created_by: str | None = None
    updated_by: str | None = None

    def params(self) -> dict[str, Any]:
        """The kind's parameters, JSON-ready (decimal strings)."""
        values: dict[str, Any] = {
            "thresholds": [money_str(value) for value in self.thresholds],
            "margin_pct": money_str(self.margin_pct),
            "period_days": self.period_days,
            "factor": money_str(self.factor),
            "min_amount": money_str(self.min_amount),
        }
        return {name: values[name] for name in _PARAMS[self.kind]}

    def to_api(self) -> dict[str, Any]:
        """The rule as the API answers it, secrets redacted."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "scope": {"entity": self.entity, "ids": None if self.ids is None else list(self.ids)},
            **self.params(),
            "channels": [channel.stored(reveal=False) for channel in self.channels],
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "created_by": self.created_by,
            "updated_by": self.updated_by,
        }

    def payload(self) -> dict[str, Any]:
        """The rule as a payload ``parse_rule`` accepts, secrets in full (what ``apply_changes`` starts from)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "scope": {"entity": self.entity, "ids": None if self.ids is None else list(self.ids)},
            **self.params(),
            "channels": [channel.stored(reveal=True) for channel in self.channels],
            "enabled": self.enabled,
        }

    def generated_secrets(self) -> list[dict[str, Any]]:
        """``[{"channel": index, "secret": ...}]`` for the webhook secrets the gateway made (shown once)."""
        return [
            {"channel": index, "secret": channel.secret}
            for index, channel in enumerate(self.channels)
            if channel.generated and channel.secret is not None
        ]


def redact_secret(secret: str) -> str:
    """``"***"`` and, for a long secret, its last four characters (enough to tell two apart, not to use one)."""
    return MASK + secret[-4:] if len(secret) >= 16 else MASK


def redact_url(url: str) -> str:
    """A URL's scheme and host; its path and query (where webhook URLs keep their tokens) become ``/***``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    shown = f"{parts.scheme}://{host}{'' if port is None else f':{port}'}"
    return shown + ("/" + MASK if parts.path.strip("/") or parts.query else "")


# -- parsing --------------------------------------------------------------------------------------------------------


def parse_rule(
    payload: Mapping[str, Any],
    *,
    rule_id: str,
    now: datetime,
    created_by: str | None = None,
    smtp_default: bool = False,
) -> AlertRule:
    """A new rule from an API payload (unknown fields are the caller's to refuse); InvalidFieldError naming the first
    bad field. ``smtp_default``: the gateway has an SMTP server, so an email channel may leave ``smtp`` out."""
    kind = _kind(payload.get("kind"))
    for name in ("name", "scope", "channels"):
        if payload.get(name) is None:
            raise InvalidFieldError(name, "is required")
    for name in ("thresholds", "margin_pct", "period_days", "factor", "min_amount"):
        if payload.get(name) is not None and name not in _PARAMS[kind]:
            raise InvalidFieldError(name, f"a {kind} rule has no {name} (it takes {', '.join(_PARAMS[kind])})")
    params = {**_DEFAULTS[kind], **{k: v for k, v in payload.items() if k in _PARAMS[kind] and v is not None}}
    if kind == "margin" and params.get("margin_pct") is None:
        raise InvalidFieldError("margin_pct", "is required: alert when the margin is below this percentage")
    entity, ids = _scope(payload["scope"], kind)
    enabled = payload.get("enabled")
    enabled = True if enabled is None else enabled
    if not isinstance(enabled, bool):
        raise InvalidFieldError("enabled", "expected true or false")
    return AlertRule(
        id=rule_id,
        name=_name(payload["name"]),
        kind=kind,
        entity=entity,
        ids=ids,
        channels=_channels(payload["channels"], smtp_default),
        enabled=enabled,
        created_at=now,
        updated_at=now,
        created_by=created_by,
        updated_by=created_by,
        **_kind_params(params),
    )


def _kind_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The rule fields of a kind's parameters (each validated, naming the field)."""
    parsers: dict[str, Any] = {
        "thresholds": _thresholds,
        "margin_pct": lambda v: _decimal(v, "margin_pct", low=Decimal(-1000), high=Decimal(100)),
        "period_days": lambda v: _whole(v, "period_days", 1, 366),
        "factor": lambda v: _decimal(v, "factor", low=Decimal(1), high=Decimal(1000), above=True),
        "min_amount": lambda v: _decimal(v, "min_amount", low=Decimal(0), high=Decimal(10) ** 12),
    }
    return {name: parsers[name](value) for name, value in params.items()}


def apply_changes(
    rule: AlertRule, changes: Mapping[str, Any], *, now: datetime, updated_by: str | None, smtp_default: bool = False
) -> AlertRule:
    """``rule`` with the fields of a PATCH payload replaced (``channels``, when given, replaces every channel; a
    parameter or ``enabled`` set to null returns to its default, ``channels`` to null keeps them); InvalidFieldError
    naming a bad field. The kind cannot change."""
    if "kind" in changes and changes["kind"] != rule.kind:
        raise InvalidFieldError("kind", "cannot change: create a new rule of the other kind")
    merged = {**rule.payload(), **changes}
    for name in _PARAMS[rule.kind]:
        if merged.get(name) is None:
            merged.pop(name, None)
    # Channels kept as they are were valid when stored (even if the gateway's SMTP server has gone since).
    kept = "channels" not in changes or changes["channels"] is None
    if kept:
        merged["channels"] = rule.payload()["channels"]
    parsed = parse_rule(merged, rule_id=rule.id, now=now, smtp_default=smtp_default or kept)
    if kept:
        parsed = replace(parsed, channels=rule.channels)
    return replace(parsed, created_at=rule.created_at, created_by=rule.created_by, updated_by=updated_by)


def _kind(value: Any) -> Kind:
    if value not in KINDS:
        raise InvalidFieldError("kind", f"expected one of {', '.join(KINDS)}")
    kind: Kind = value
    return kind


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidFieldError("name", "expected a non-empty string")
    if len(value) > 200 or not value.isprintable():
        raise InvalidFieldError("name", "at most 200 printable characters")
    return value.strip()


def _scope(value: Any, kind: str) -> tuple[str, tuple[str, ...] | None]:
    if not isinstance(value, Mapping):
        raise InvalidFieldError("scope", 'expected an object such as {"entity": "team", "ids": ["t1"]}')
    unknown = sorted(set(value) - {"entity", "ids"})
    if unknown:
        raise InvalidFieldError(f"scope.{unknown[0]}", "unknown field (a scope has entity and ids)")
    entity = value.get("entity")
    allowed = _ENTITIES[kind]
    if entity not in allowed:
        raise InvalidFieldError("scope.entity", f"a {kind} rule watches one of {', '.join(allowed)}")
    ids = value.get("ids")
    if ids is None:
        return entity, None
    if entity == "all":
        raise InvalidFieldError("scope.ids", "the entity 'all' has no ids")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_IDS:
        raise InvalidFieldError("scope.ids", f"expected null (every {entity}) or a list of 1 to {MAX_IDS} ids")
    for index, item in enumerate(ids):
        if not isinstance(item, str) or not item or len(item) > 256 or not item.isprintable():
            raise InvalidFieldError(f"scope.ids[{index}]", "expected an id of 1 to 256 printable characters")
    return entity, tuple(dict.fromkeys(ids))


def _decimal(value: Any, name: str, *, low: Decimal, high: Decimal, above: bool = False) -> Decimal:
    """A number or decimal string in ``[low, high]`` (``(low, high]`` when ``above``), at most 12 decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidFieldError(name, f"expected a number or a decimal string, got {type(value).__name__}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidFieldError(name, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise InvalidFieldError(name, "must be a finite number")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12:
        raise InvalidFieldError(name, "at most 12 decimal places")
    if number > high or number < low or (above and number == low):
        bound = f"above {low}" if above else f"at least {low}"
        raise InvalidFieldError(name, f"must be {bound} and at most {high}, got {money_str(number)}")
    return number


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidFieldError(name, f"expected a whole number from {low} to {high}")
    return value


def _thresholds(value: Any) -> tuple[Decimal, ...]:
    if not isinstance(value, list | tuple) or not value or len(value) > 10:
        raise InvalidFieldError("thresholds", "expected a list of 1 to 10 percentages, such as [50, 80, 100]")
    numbers = [
        _decimal(item, f"thresholds[{index}]", low=Decimal(0), high=Decimal(1000), above=True)
        for index, item in enumerate(value)
    ]
    if len(set(numbers)) != len(numbers):
        raise InvalidFieldError("thresholds", "each percentage at most once")
    return tuple(sorted(numbers))


def _channels(value: Any, smtp_default: bool) -> tuple[Channel, ...]:
    if not isinstance(value, list) or not value or len(value) > MAX_CHANNELS:
        raise InvalidFieldError("channels", f"expected a list of 1 to {MAX_CHANNELS} channels")
    return tuple(_channel(item, f"channels[{index}]", smtp_default) for index, item in enumerate(value))


def parse_channel(value: Any, name: str = "channel", smtp_default: bool = True) -> Channel:
    """One channel object (as ``channels[i]`` of a payload, or as stored with a delivery); InvalidFieldError."""
    return _channel(value, name, smtp_default)


def _channel(value: Any, name: str, smtp_default: bool) -> Channel:
    if not isinstance(value, Mapping):
        raise InvalidFieldError(name, 'expected an object such as {"type": "slack", "url": "https://..."}')
    kind = value.get("type")
    fields = {"webhook": {"type", "url", "secret"}, "slack": {"type", "url"}, "email": {"type", "to", "smtp"}}
    if kind not in fields:
        raise InvalidFieldError(f"{name}.type", "expected webhook, slack or email")
    unknown = sorted(set(value) - fields[kind])
    if unknown:
        raise InvalidFieldError(f"{name}.{unknown[0]}", f"a {kind} channel has only {', '.join(sorted(fields[kind]))}")
    if kind == "email":
        to = _addresses(value.get("to"), f"{name}.to")
        smtp = value.get("smtp")
        if smtp is None and not smtp_default:
            raise InvalidFieldError(f"{name}.smtp", "required: this gateway has no general_settings.alerts_smtp")
        return Channel("email", to=to, smtp=None if smtp is None else parse_smtp(smtp, f"{name}.smtp"))
    url = _url(value.get("url"), f"{name}.url")
    if kind == "slack":
        return Channel("slack", url=url)
    secret = value.get("secret")
    if secret is None:
        return Channel("webhook", url=url, secret="whsec_" + secrets.token_urlsafe(24), generated=True)
    return Channel("webhook", url=url, secret=_secret(secret, f"{name}.secret"))


def _url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidFieldError(name, "expected an http(s) URL")
    if len(value) > 2048 or not value.isprintable() or any(char.isspace() for char in value) or MASK in value:
        raise InvalidFieldError(name, "expected a whole http(s) URL of at most 2048 characters (not a redacted one)")
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise InvalidFieldError(name, "not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidFieldError(name, "expected an http:// or https:// URL with a host")
    return value


def _secret(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 16 <= len(value) <= 256 or not value.isprintable() or " " in value:
        raise InvalidFieldError(name, "expected 16 to 256 printable characters without spaces (or leave it out)")
    if value.startswith(MASK):
        raise InvalidFieldError(name, "this is a redacted value: send the whole secret, or leave it out for a new one")
    return value


def _addresses(value: Any, name: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or len(items) > 20:
        raise InvalidFieldError(name, "expected an email address or a list of 1 to 20")
    for index, item in enumerate(items):
        if not isinstance(item, str) or len(item) > 254 or not _EMAIL.fullmatch(item):
            raise InvalidFieldError(f"{name}[{index}]" if isinstance(value, list) else name, "not an email address")
    return tuple(dict.fromkeys(items))


def parse_smtp(value: Any, name: str) -> SmtpServer:
    """An SMTP server object (``{"host", "port"?, "username"?, "password"?, "from", "starttls"?, "ssl"?}``), as a
    channel's ``smtp`` or the gateway's ``general_settings.alerts_smtp``; InvalidFieldError naming the field."""
    if not isinstance(value, Mapping):
        raise InvalidFieldError(name, 'expected an object such as {"host": "smtp.example.com", "from": "a@b.c"}')
    unknown = sorted(set(value) - {"host", "port", "username", "password", "from", "starttls", "ssl"})
    if unknown:
        raise InvalidFieldError(f"{name}.{unknown[0]}", "unknown field")
    host = value.get("host")
    if not isinstance(host, str) or not _HOST.fullmatch(host):
        raise InvalidFieldError(f"{name}.host", "expected a host name or address")
    flags = {flag: value.get(flag, False) for flag in ("starttls", "ssl")}
    for flag, setting in flags.items():
        if not isinstance(setting, bool):
            raise InvalidFieldError(f"{name}.{flag}", "expected true or false")
    if flags["starttls"] and flags["ssl"]:
        raise InvalidFieldError(f"{name}.ssl", "use starttls or ssl, not both")
    default_port = 465 if flags["ssl"] else 587 if flags["starttls"] else 25
    port = _whole(value.get("port", default_port), f"{name}.port", 1, 65535)
    sender = _addresses(value.get("from"), f"{name}.from")
    username, password = (_credential(value.get(part), f"{name}.{part}") for part in ("username", "password"))
    return SmtpServer(host, sender[0], port, username, password, flags["starttls"], flags["ssl"])


def _credential(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 512 or not value.isprintable():
        raise InvalidFieldError(name, "expected 1 to 512 printable characters")
    if value == MASK:
        raise InvalidFieldError(name, "this is a redacted value: send the whole password")
    return value
