"""The public API is explicit: every name in __all__ resolves, and import stays lazy."""

import subprocess
import sys

import pytest

import tollway


def test_all_is_sorted_and_complete() -> None:
    names = tollway.__all__
    assert names == sorted(names, key=lambda n: (n.startswith("_"), n.lower())) or names == sorted(names)
    for name in names:
        assert getattr(tollway, name) is not None, name


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="not_a_thing"):
        _ = tollway.not_a_thing  # type: ignore[attr-defined]


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, tollway; "
        "heavy = [m for m in ('aiohttp', 'orjson', 'openai', 'anthropic', 'tollway.client') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
