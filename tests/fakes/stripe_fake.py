"""A fake Stripe API on loopback: ``GET /v1/invoices`` and ``GET /v1/refunds`` in Stripe's list format, for the
revenue sync's tests, and ``POST /v1/billing/meter_events`` for the billing export's, judged by the official
``stripe`` package (it must list, auto-paginate and create meter events against it).

What it speaks, after https://docs.stripe.com/api/pagination and https://docs.stripe.com/api/authentication:

- ``Authorization: Bearer <secret key>``; another key gets 401 with Stripe's error envelope.
- Lists: ``{"object": "list", "data": [...], "has_more": bool, "url": "/v1/invoices"}``, newest first (``created``
  descending), ``limit`` (1 to 100, default 10), ``starting_after`` (the id of the previous page's last object).
- Filters: ``created[gte|gt|lte|lt]`` (unix seconds); invoices ``status`` and ``customer``; refunds
  ``expand[]=data.charge`` replaces each refund's charge id by the charge object (with its ``customer``).

Meter events (https://docs.stripe.com/api/billing/meter-event/create), form-encoded as the package sends them:
``event_name`` and ``payload[stripe_customer_id]`` required, ``payload[value]`` a whole number, ``timestamp`` within
the past 35 days and at most 5 minutes ahead (of ``clock``), ``identifier`` unique for 24 hours: a second event
with one gets Stripe's 400 ``duplicate_meter_event`` ("An event already exists with identifier ...",
``Stripe-Should-Retry: false``). With ``meters`` / ``customers`` set, other event names / customers get a 400.
Accepted events are kept in ``meter_events``; ``fail_next(status, times)`` makes the next POSTs fail (429 and 500
with Stripe's error bodies, optionally ``Retry-After``); ``latency`` slows every POST down.

An ``http.server`` in a thread of its own, so the ``stripe`` package's blocking client can call it from any test.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import sleep as _sleep
from time import time as _wall
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = ["StripeFake", "unix"]

API_KEY = "sk_test_tollway_fake"
_FILTER = re.compile(r"created\[(gte|gt|lte|lt)\]")
METER_EVENTS = "/v1/billing/meter_events"
_DAY = 86_400


def unix(day: date, hour: int = 12) -> int:
    """Unix seconds of ``day`` at ``hour``:00 UTC."""
    return int(datetime.combine(day, time(hour), UTC).timestamp())


class StripeFake:
    """The fake server: add invoices, refunds and charges, give ``url`` as the API base; ``requests`` records every
    (path, query) received."""

    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.invoices: list[dict[str, Any]] = []
        self.refunds: list[dict[str, Any]] = []
        self.charges: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.meter_events: list[dict[str, Any]] = []
        self.duplicates: list[str] = []  # identifiers sent again and refused as duplicates
        self.meters: set[str] | None = None  # event names with a meter (None: any)
        self.customers: set[str] | None = None  # Stripe customers that exist (None: any)
        self.latency = 0.0
        self.clock: Callable[[], float] = _wall
        self._seen: dict[str, float] = {}  # identifier -> when it was accepted
        self._failures: list[tuple[int, str | None]] = []
        self.failing_customers: dict[str, int] = {}  # Stripe customer -> the status its meter events get
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """The API base (``http://127.0.0.1:PORT``; the package adds ``/v1/...``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def invoice(
        self,
        customer: str | None,
        amount_paid: int,
        *,
        currency: str = "usd",
        created: int,
        period: tuple[int, int] | None = None,
        status: str = "paid",
        paid_at: int | None = None,
    ) -> dict[str, Any]:
        """Add an invoice (``period`` = (period_start, period_end) in unix seconds; default: both ``created``)."""
        start, end = period or (created, created)
        number = next(self._ids)
        invoice = {
            "id": f"in_{number:06d}",
            "object": "invoice",
            "customer": customer,
            "amount_paid": amount_paid if status == "paid" else 0,
            "amount_due": amount_paid,
            "currency": currency,
            "status": status,
            "created": created,
            "period_start": start,
            "period_end": end,
            "number": f"INV-{number:04d}",
            "status_transitions": {"paid_at": paid_at if paid_at is not None else created},
            "livemode": False,
        }
        self.invoices.append(invoice)
        return invoice

    def refund(
        self, customer: str | None, amount: int, *, currency: str = "usd", created: int, status: str = "succeeded"
    ) -> dict[str, Any]:
        """Add a refund of a new charge of ``customer``."""
        number = next(self._ids)
        charge = {"id": f"ch_{number:06d}", "object": "charge", "customer": customer, "currency": currency}
        self.charges[charge["id"]] = charge
        refund = {
            "id": f"re_{number:06d}",
            "object": "refund",
            "amount": amount,
            "currency": currency,
            "charge": charge["id"],
            "created": created,
            "status": status,
        }
        self.refunds.append(refund)
        return refund

    def fail_next(self, status: int, times: int = 1, *, retry_after: str | None = None) -> None:
        """Answer the next ``times`` POSTs with ``status`` (429: rate limited; 5xx: Stripe's api_error)."""
        with self._lock:
            self._failures += [(status, retry_after)] * times

    def recover(self) -> None:
        """Forget the failures ``fail_next`` queued and the ``failing_customers``."""
        with self._lock:
            self._failures.clear()
            self.failing_customers.clear()

    def meter_identifiers(self) -> list[str]:
        """The identifiers of the meter events accepted, in order."""
        return [event["identifier"] for event in self.meter_events]

    # -- serving ----------------------------------------------------------------------------------------------------

    def create(
        self, path: str, form: list[tuple[str, str]], authorization: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The status, JSON body and extra headers answering one POST."""
        if self.latency:
            _sleep(self.latency)
        with self._lock:
            self.requests.append((path, dict(form)))
            injected = self._failures.pop(0) if self._failures else None
        if authorization != f"Bearer {self.api_key}":
            return 401, _error("invalid_request_error", "Invalid API Key provided"), {}
        if path != METER_EVENTS:
            return 404, _error("invalid_request_error", f"Unrecognized request URL (POST: {path})"), {}
        if injected is not None:
            return _injected(*injected)
        failing = self.failing_customers.get(dict(form).get("payload[stripe_customer_id]", ""))
        if failing is not None:
            return _injected(failing, None)
        return self._meter_event(dict(form))

    def _meter_event(self, form: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        now = self.clock()
        problem = _meter_event_problem(form, now, self.meters, self.customers)
        if problem is not None:
            return 400, problem, {}
        identifier = form.get("identifier") or f"fake_{next(self._ids)}"
        with self._lock:
            seen = self._seen.get(identifier)
            if seen is not None and now - seen < _DAY:
                self.duplicates.append(identifier)
                message = f"An event already exists with identifier {identifier}."
                error = _error("invalid_request_error", message, param="identifier", code="duplicate_meter_event")
                return 400, error, {"Stripe-Should-Retry": "false"}
            self._seen[identifier] = now
            event = {
                "object": "billing.meter_event",
                "created": int(now),
                "event_name": form["event_name"],
                "identifier": identifier,
                "livemode": False,
                "payload": {k[8:-1]: v for k, v in form.items() if k.startswith("payload[") and k.endswith("]")},
                "timestamp": int(form.get("timestamp") or now),
            }
            self.meter_events.append(event)
        return 200, event, {}

    def answer(self, path: str, query: list[tuple[str, str]], authorization: str | None) -> tuple[int, dict[str, Any]]:
        """The status and JSON body of one request."""
        with self._lock:
            self.requests.append((path, dict(query)))
        if authorization != f"Bearer {self.api_key}":
            return 401, _error("invalid_request_error", "Invalid API Key provided")
        params = dict(query)
        if path == "/v1/invoices":
            items = [i for i in self.invoices if _matches(i, params, ("status", "customer"))]
        elif path == "/v1/refunds":
            items = [self._expanded(r, query) for r in self.refunds if _matches(r, params, ())]
        else:
            return 404, _error("invalid_request_error", f"Unrecognized request URL (GET: {path})")
        try:
            limit = int(params.get("limit", "10"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return 400, _error("invalid_request_error", "Invalid integer: limit must be 1 to 100", param="limit")
        items.sort(key=lambda item: (item["created"], item["id"]), reverse=True)
        after = params.get("starting_after")
        if after is not None:
            ids = [item["id"] for item in items]
            if after not in ids:
                return 400, _error("invalid_request_error", f"No such object: '{after}'", param="starting_after")
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        return 200, {"object": "list", "data": page, "has_more": len(items) > limit, "url": path}

    def _expanded(self, refund: dict[str, Any], query: list[tuple[str, str]]) -> dict[str, Any]:
        if any(name.startswith("expand") and value == "data.charge" for name, value in query):
            return {**refund, "charge": self.charges[refund["charge"]]}
        return dict(refund)


def _matches(item: dict[str, Any], params: dict[str, str], equal: tuple[str, ...]) -> bool:
    for name, value in params.items():
        bound = _FILTER.fullmatch(name)
        if bound is not None:
            created, limit = item["created"], int(value)
            op = bound.group(1)
            ok = {"gte": created >= limit, "gt": created > limit, "lte": created <= limit, "lt": created < limit}[op]
            if not ok:
                return False
        elif name in equal and item.get(name) != value:
            return False
    return True


def _error(kind: str, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
    return {"error": error}


def _injected(status: int, retry_after: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    if status == 429:
        message = "Request rate limit exceeded. Try again with exponential backoff."
        return 429, _error("invalid_request_error", message, code="rate_limit"), headers
    return status, _error("api_error", "An unknown error occurred (injected by the fake)"), headers


def _meter_event_problem(
    form: dict[str, str], now: float, meters: set[str] | None, customers: set[str] | None
) -> dict[str, Any] | None:
    """Stripe's 400 for an unusable meter event, or None."""
    for name in ("event_name", "payload[stripe_customer_id]", "payload[value]"):
        if not form.get(name):
            return _error("invalid_request_error", f"Missing required param: {name}.", param=name)
    stamp = form.get("timestamp", str(int(now)))
    customer = form["payload[stripe_customer_id]"]
    problems = [
        (not re.fullmatch(r"-?\d+", form["payload[value]"]), "payload[value]", "The value must be a whole number."),
        (not re.fullmatch(r"\d+", stamp), "timestamp", "Invalid integer: timestamp"),
        (
            stamp.isdigit() and not now - 35 * _DAY <= int(stamp) <= now + 300,
            "timestamp",
            "Timestamp must be within the past 35 days and no more than 5 minutes in the future.",
        ),
        (
            meters is not None and form["event_name"] not in meters,
            "event_name",
            f"No active meter was found matching event_name {form['event_name']}.",
        ),
        (customers is not None and customer not in customers, "payload", f"No such customer: '{customer}'"),
    ]
    for failed, param, message in problems:
        if failed:
            return _error("invalid_request_error", message, param=param)
    return None


def _handler(fake: StripeFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the client's delayed
        # ACK (~40 ms) on every kept-alive request.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, body = fake.answer(parts.path, parse_qsl(parts.query), self.headers.get("Authorization"))
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Request-Id", "req_fake")
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
            path = urlsplit(self.path).path
            status, body, extra = fake.create(path, form, self.headers.get("Authorization"))
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.send_header("Request-Id", "req_fake")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``fake.requests`` instead."""

    return Handler


def pages(fake: StripeFake, path: str) -> Iterator[dict[str, str]]:
    """The queries ``path`` was called with, in order."""
    return (query for called, query in fake.requests if called == path)
