"""``tollway prices show`` and ``tollway prices update`` (offline: it must fail fast and say why)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tollway.cli import main
from tollway.pricing import prices as prices_module


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TOLLWAY_CACHE_DIR", str(tmp_path))
    return tmp_path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket closes


def test_show_prints_prices_and_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "show", "anthropic/claude-sonnet-4-5"]) == 0
    out = capsys.readouterr().out
    assert "anthropic/claude-sonnet-4-5" in out
    assert "[genai-prices " in out
    assert "input           $3 per 1M tokens" in out
    assert "cache_write_1h  $6 per 1M tokens" in out
    assert "above 200,000 input tokens" in out


def test_show_at_a_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "show", "openai/o3", "--at", "2025-06-01"]) == 0
    assert "input           $10 per 1M tokens" in capsys.readouterr().out


def test_show_unknown_model_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prices", "show", "openai/no-such-model-xyz"]) == 1
    assert "unpriced" in capsys.readouterr().err


def test_update_offline_fails_fast_and_keeps_data(capsys: pytest.CaptureFixture[str], cache_dir: Path) -> None:
    started = time.monotonic()
    status = main(["prices", "update", "--url", f"http://127.0.0.1:{closed_port()}/data.json", "--timeout", "2"])
    assert status == 1
    assert time.monotonic() - started < 5
    err = capsys.readouterr().err
    assert "could not fetch" in err
    assert "keeping the current price data" in err
    assert not list(cache_dir.iterdir())


def test_a_written_cache_file_is_used_and_labelled(cache_dir: Path) -> None:
    import json

    (cache_dir / "genai-prices-data.json").write_text(
        json.dumps(
            {
                "fetched": "2026-11-26T00:00:00+00:00",
                "providers": [
                    {
                        "id": "openai",
                        "name": "OpenAI",
                        "api_pattern": "x",
                        "models": [{"id": "gpt-4o", "match": {"equals": "gpt-4o"}, "prices": {"input_mtok": 7}}],
                    }
                ],
            }
        )
    )
    prices_module.clear_caches()
    try:
        price = prices_module.resolve_price("openai", "gpt-4o")
        assert price is not None
        assert price.input is not None
        assert price.input * 1_000_000 == 7
        assert price.source.endswith("(data fetched 2026-11-26T00:00:00+00:00)")
    finally:
        (cache_dir / "genai-prices-data.json").unlink()
        prices_module.clear_caches()
