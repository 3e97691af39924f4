"""Governance: virtual keys, budgets, rate limits and spend accounting for the gateway (issue #7).

Pure policy (``durations``, ``records``, ``admission``) beside the services the gateway uses (``counters`` with its
memory and Redis implementations, the spend writer, the key cache). Nothing is imported here: ``import tollway``
and ``import tollway.governance`` stay cheap, and Redis or SQL load only when a module that needs them is imported.
"""
