"""The OpenAI-compatible vendors: one ``ProviderSpec`` row each, all served by the OpenAI adapter.

Each row's facts (base URL, key variable, quirks) come from the vendor's own documentation, cited in ``source``.
Quirks are those ``tollway.adapters.openai`` understands (see its docstring).
"""

from __future__ import annotations

from tollway.spec import ProviderSpec

__all__ = ["COMPATIBLE_PROVIDERS"]

COMPATIBLE_PROVIDERS: tuple[ProviderSpec, ...] = ()
