"""Refreshing price data: ``tollway prices update`` fetches it into a cache file; resolution reads that file.

Nothing here runs at import or at call time: only the CLI fetches. The file holds the JSON genai-prices publishes
for its own auto-update (``genai_prices.update_prices.DEFAULT_UPDATE_URL``), validated with the parser its
``UpdatePrices.fetch`` uses before it replaces the previous file (atomically), so a bad download never
replaces good data. The cache directory is ``$TOLLWAY_CACHE_DIR``, else ``$XDG_CACHE_HOME/tollway``, else
``~/.cache/tollway`` (``%LOCALAPPDATA%\\tollway`` on Windows).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot

__all__ = ["PriceUpdateError", "cache_dir", "cached_data_path", "load_cached_snapshot", "update_prices"]

_FILE = "genai-prices-data.json"


class PriceUpdateError(RuntimeError):
    """Fresh price data could not be fetched or read (the previous data stays in use)."""


def cache_dir() -> Path:
    """Tollway's cache directory (not created here)."""
    explicit = os.environ.get("TOLLWAY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "tollway"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tollway"


def cached_data_path() -> Path:
    """Where ``tollway prices update`` stores the data."""
    return cache_dir() / _FILE


def _parse(raw: Any) -> Any:
    # The parser UpdatePrices.fetch uses (private in genai-prices 0.2.3; there is no public one).
    from genai_prices.types import _providers_from_raw

    if not isinstance(raw, list):
        raise PriceUpdateError("price data is not a provider list")
    return _providers_from_raw(raw)


def load_cached_snapshot() -> tuple[DataSnapshot, str] | None:
    """The refreshed data and when it was fetched (ISO time), or None when there is no usable file."""
    from genai_prices.data_snapshot import DataSnapshot

    path = cached_data_path()
    try:
        document = json.loads(path.read_bytes())
        providers = _parse(document["providers"])
        fetched = str(document["fetched"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, PriceUpdateError) as exc:
        # A damaged cache must not stop pricing: the bundled data is still there. Say so once.
        print(f"tollway: ignoring unreadable price data {path}: {exc}", file=sys.stderr)
        return None
    return DataSnapshot(providers=providers, from_auto_update=True), fetched


def update_prices(url: str | None = None, *, timeout: float = 10.0) -> tuple[Path, int]:
    """Fetch fresh data into the cache file; returns its path and the number of providers. No retries.

    Raises ``PriceUpdateError`` with the reason when the network, the server or the data fails.
    """
    import httpx2
    from genai_prices.update_prices import DEFAULT_UPDATE_URL

    source = url or DEFAULT_UPDATE_URL
    try:
        response = httpx2.get(source, timeout=httpx2.Timeout(timeout, connect=min(timeout, 5.0)))
        response.raise_for_status()
        raw = json.loads(response.content)
        providers = _parse(raw)
    except httpx2.HTTPError as exc:
        raise PriceUpdateError(f"could not fetch {source}: {exc or type(exc).__name__}") from exc
    except ValueError as exc:
        raise PriceUpdateError(f"{source} returned unusable price data: {exc}") from exc
    path = cached_data_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"fetched": datetime.now(UTC).isoformat(timespec="seconds"), "url": source, "providers": raw}
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as tmp:
        json.dump(document, tmp)
    Path(tmp.name).replace(path)
    from tollway.pricing.prices import clear_caches

    clear_caches()
    return path, len(providers)
