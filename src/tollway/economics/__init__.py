"""Customer economics: what each customer of the caller's product pays (revenue) and, against the spend rows the
gateway records, what it costs (margin), what another model would cost (simulation), and alerts.

- ``revenue``: the revenue record and its validation (API payloads and CSV rows), and proration over a period; pure.
- ``currencies``: the ISO 4217 codes a revenue record may name.
- ``stripe_sync``: paid Stripe invoices and refunds as revenue records, through the official ``stripe`` package.
- ``revenue_cli``: ``tollway revenue import FILE.csv`` and ``tollway revenue sync-stripe``.

Storage is ``tollway.storage.revenue_store``; HTTP routes are ``tollway.proxy.routes_revenue``. Money is ``Decimal``
throughout, and amounts in two currencies are never added together: totals are keyed by (customer, currency).
"""
