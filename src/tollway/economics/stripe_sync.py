"""Stripe sync: paid invoices and succeeded refunds of a date range as revenue records (source ``"stripe"``).

``fetch_stripe`` lists them with the official ``stripe`` package (auto-pagination; ``api_base`` points it at another
server, such as the tests' fake); ``stripe_records`` maps them to records (pure); ``sync_stripe`` does both and
records them idempotently, so running it twice over the same range records nothing new.

Mapping, following Stripe's API reference (https://docs.stripe.com/api/invoices/object,
https://docs.stripe.com/api/refunds/object, https://docs.stripe.com/currencies):

- Invoices with ``status=paid`` *created* in ``[start, end]`` (UTC days); refunds created in it with
  ``status=succeeded`` (a pending refund is picked up by a later sync, once it has succeeded).
- The customer: ``invoice.customer``, and for a refund its charge's ``customer`` (listed with
  ``expand[]=data.charge``), looked up as ``customers.stripe_customer_id``. A Stripe customer no tollway customer
  names is reported, never invented; its invoices are not recorded until one does (re-run the sync then).
- Amount: ``amount_paid`` (a refund's ``amount``) in the currency's smallest unit: divided by 100, by 1 for
  Stripe's zero-decimal currencies (JPY, KRW, ...) and by 1000 for its three-decimal ones (BHD, KWD, ...).
- Period: the invoice's ``period_start``..``period_end`` as inclusive UTC dates (``period_end`` is an exclusive
  instant: the day before it is the last day). Stripe sets both to the creation time on a one-off invoice, and
  then the payment day (``status_transitions.paid_at``) is the period. Stripe's invoice period is the period the
  invoice's usage items were collected in (for a subscription renewal, the period that just ended), so revenue
  lines up with usage billed in arrears. A refund's period is the day it was created.
- ``external_id`` is the invoice's or refund's id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tollway.economics.currencies import is_currency
from tollway.economics.revenue import RevenueRecord

if TYPE_CHECKING:
    from tollway.storage.database import Database

__all__ = [
    "SOURCE",
    "StripeObjects",
    "SyncReport",
    "describe",
    "describe_left_out",
    "fetch_stripe",
    "invoice_customer",
    "invoice_record",
    "mapped_records",
    "refund_customer",
    "refund_record",
    "stripe_amount",
    "stripe_customer_ids",
    "stripe_records",
    "sync_stripe",
]

SOURCE = "stripe"
# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
PAGE_LIMIT = 100  # Stripe's largest page
_Build = Callable[[Mapping[str, Any], str], RevenueRecord]


def stripe_amount(minor_units: int, currency: str) -> Decimal:
    """An amount in Stripe's smallest unit of ``currency`` (upper case) as a Decimal in the currency itself."""
    places = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    return Decimal(minor_units).scaleb(-places)


def _day(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


def _stamp(day: date) -> int:
    return int(datetime.combine(day, time.min, UTC).timestamp())


@dataclass(frozen=True, slots=True)
class StripeObjects:
    """What one sync read from Stripe: invoices and refunds as plain dicts (Stripe's JSON)."""

    invoices: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class SyncReport:
    """What a sync did: records created and already recorded, Stripe customers that no tollway customer names
    (id -> how many of their invoices and refunds were left out), and objects skipped (id -> why)."""

    invoices: int = 0
    refunds: int = 0
    created: int = 0
    existing: int = 0
    unmapped: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def fetch_stripe(api_key: str, start: date, end: date, *, api_base: str | None = None) -> StripeObjects:
    """Paid invoices and refunds created in ``[start, end]`` (UTC days, both inclusive), every page of each.

    Blocking (the ``stripe`` package's default HTTP client): call it from a thread inside an event loop. Raises
    ``stripe.StripeError`` (authentication, connection, API errors).
    """
    import stripe

    client = stripe.StripeClient(api_key, base_addresses={"api": api_base} if api_base else None)
    created: dict[str, int] = {"gte": _stamp(start), "lt": _stamp(end + timedelta(days=1))}
    invoices = client.v1.invoices.list(
        params={"status": "paid", "created": {"gte": created["gte"], "lt": created["lt"]}, "limit": PAGE_LIMIT}
    )
    refunds = client.v1.refunds.list(
        params={
            "created": {"gte": created["gte"], "lt": created["lt"]},
            "limit": PAGE_LIMIT,
            "expand": ["data.charge"],
        }
    )
    return StripeObjects(
        invoices=[invoice.to_dict() for invoice in invoices.auto_paging_iter()],
        refunds=[refund.to_dict() for refund in refunds.auto_paging_iter()],
    )


def _customer_of(value: Any) -> str | None:
    """A customer reference: an id, or an expanded object's id."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def invoice_customer(invoice: Mapping[str, Any]) -> str | None:
    """The Stripe customer id of an invoice."""
    return _customer_of(invoice.get("customer"))


def refund_customer(refund: Mapping[str, Any]) -> str | None:
    """The Stripe customer id of a refund (its expanded charge's customer), or None."""
    charge = refund.get("charge")
    return _customer_of(charge.get("customer")) if isinstance(charge, Mapping) else None


def _currency(obj: Mapping[str, Any]) -> str:
    code = str(obj.get("currency") or "").upper()
    if not is_currency(code):
        raise ValueError(f"unknown currency {obj.get('currency')!r}")
    return code


def _minor(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is not a non-negative whole number: {value!r}")
    return value


def invoice_record(invoice: Mapping[str, Any], customer_id: str) -> RevenueRecord:
    """A paid invoice as tollway customer ``customer_id``'s revenue (ValueError when a field is unusable)."""
    currency = _currency(invoice)
    start_ts, end_ts = invoice.get("period_start"), invoice.get("period_end")
    if isinstance(start_ts, int) and isinstance(end_ts, int) and end_ts > start_ts:
        first, last = _day(start_ts), _day(end_ts - 1)
    else:
        paid = (invoice.get("status_transitions") or {}).get("paid_at") or invoice.get("created")
        if not isinstance(paid, int):
            raise ValueError("the invoice has no period and no payment time")
        first = last = _day(paid)
    return RevenueRecord(
        customer_id=customer_id,
        amount=stripe_amount(_minor(invoice.get("amount_paid"), "amount_paid"), currency),
        currency=currency,
        period_start=first,
        period_end=last,
        source=SOURCE,
        external_id=str(invoice["id"]),
        metadata={"stripe_customer": invoice_customer(invoice), "invoice_number": invoice.get("number")},
    )


def refund_record(refund: Mapping[str, Any], customer_id: str) -> RevenueRecord:
    """A succeeded refund as a refund of tollway customer ``customer_id`` (ValueError when a field is unusable)."""
    currency = _currency(refund)
    created = refund.get("created")
    if not isinstance(created, int):
        raise ValueError("the refund has no creation time")
    charge = refund.get("charge")
    return RevenueRecord(
        customer_id=customer_id,
        kind="refund",
        amount=stripe_amount(_minor(refund.get("amount"), "amount"), currency),
        currency=currency,
        period_start=_day(created),
        period_end=_day(created),
        source=SOURCE,
        external_id=str(refund["id"]),
        metadata={"stripe_customer": refund_customer(refund), "charge": _customer_of(charge)},
    )


def stripe_records(
    objects: StripeObjects, customers: Mapping[str, str], report: SyncReport | None = None
) -> list[RevenueRecord]:
    """The records of ``objects``, with ``customers`` mapping Stripe customer ids to tollway customer ids; what is
    left out (unmapped customers, pending refunds, unusable objects) is counted in ``report``."""
    report = report if report is not None else SyncReport()
    unmapped: Counter[str] = Counter()
    records: list[RevenueRecord] = []
    sources: list[tuple[dict[str, Any], str | None, _Build]]
    sources = [(invoice, invoice_customer(invoice), invoice_record) for invoice in objects.invoices]
    sources += [(refund, refund_customer(refund), refund_record) for refund in objects.refunds]
    for obj, stripe_customer, build in sources:
        ident = str(obj.get("id"))
        if build is refund_record and obj.get("status") != "succeeded":
            report.skipped[ident] = f"refund status {obj.get('status')!r}, not succeeded"
            continue
        customer = customers.get(stripe_customer) if stripe_customer is not None else None
        if customer is None:
            unmapped[stripe_customer or "(no customer)"] += 1
            continue
        try:
            records.append(build(obj, customer))
        except (ValueError, KeyError) as error:
            report.skipped[ident] = str(error)
    report.invoices, report.refunds = len(objects.invoices), len(objects.refunds)
    report.unmapped = dict(sorted(unmapped.items()))
    return records


def stripe_customer_ids(objects: StripeObjects) -> set[str]:
    """Every Stripe customer id the objects name."""
    found = {invoice_customer(invoice) for invoice in objects.invoices}
    found |= {refund_customer(refund) for refund in objects.refunds}
    return {ident for ident in found if ident is not None}


async def mapped_records(
    database: Database, objects: StripeObjects, *, created_by: str | None = "stripe-sync"
) -> tuple[list[RevenueRecord], SyncReport]:
    """The records of ``objects``, their Stripe customers mapped through ``customers.stripe_customer_id``, and the
    report of what was left out (``created``/``existing`` still 0)."""
    from tollway.storage.entities import CustomerStore

    customers = CustomerStore(database)
    mapping: dict[str, str] = {}
    for stripe_id in sorted(stripe_customer_ids(objects)):
        found = await customers.get_by_stripe_id(stripe_id)
        if found is not None:
            mapping[stripe_id] = found.customer_id
    report = SyncReport()
    records = [record.stamped(record.created_at, created_by) for record in stripe_records(objects, mapping, report)]
    return records, report


async def sync_stripe(
    database: Database, objects: StripeObjects, *, created_by: str | None = "stripe-sync"
) -> SyncReport:
    """Record ``objects`` (from ``fetch_stripe``) as revenue: idempotent, all or nothing
    (``RevenueConflictError`` when an invoice was recorded before with another amount or period)."""
    from tollway.storage.revenue_store import RevenueStore

    records, report = await mapped_records(database, objects, created_by=created_by)
    added = await RevenueStore(database).add_many(records)
    report.created = sum(1 for _, created in added if created)
    report.existing = len(added) - report.created
    return report


def describe(report: SyncReport) -> Iterable[str]:
    """The report as lines for a person."""
    yield (
        f"stripe: {report.invoices} paid invoices, {report.refunds} refunds: "
        f"{report.created} new, {report.existing} already recorded"
    )
    yield from describe_left_out(report)


def describe_left_out(report: SyncReport) -> Iterable[str]:
    """What the report left out, as lines for a person."""
    for stripe_id, count in report.unmapped.items():
        yield f"unmapped Stripe customer {stripe_id}: {count} not recorded (set it as a customer's stripe_customer_id)"
    for ident, why in report.skipped.items():
        yield f"skipped {ident}: {why}"
