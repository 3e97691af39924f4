"""Every provider case, collected from the modules of this package (one module per provider)."""

from __future__ import annotations

import importlib
import pkgutil

from conformance.harness import ProviderCase


def all_cases() -> list[ProviderCase]:
    """The ``CASES`` of every module here, sorted by name."""
    cases: list[ProviderCase] = []
    for module in pkgutil.iter_modules(__path__):
        cases.extend(importlib.import_module(f"{__name__}.{module.name}").CASES)
    return sorted(cases, key=lambda case: case.name)
