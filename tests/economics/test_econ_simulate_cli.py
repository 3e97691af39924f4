"""``tollway simulate`` through the CLI's main(), on SQLite and PostgreSQL, on the hand-computed dataset of
``simulate_data`` with the model groups of a config file: the table, JSON and CSV give the hand-computed numbers;
bad arguments exit 1 (2 for argparse) with the reason."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from econ_support import cli, seeded_url
from simulate_data import MODEL_LIST, SWAP_CHEAP, seed

PERIOD = ("--start", "2025-06-01", "--end", "2025-06-02")


@pytest.fixture
async def seeded(database_url: str) -> str:
    """``database_url``, migrated and holding the dataset."""
    return await seeded_url(database_url, seed)


@pytest.fixture
def config(tmp_path: Path) -> str:
    """A config file with the dataset's model groups (JSON is YAML)."""
    path = tmp_path / "config.yaml"
    path.write_bytes(orjson.dumps({"model_list": MODEL_LIST}))
    return str(path)


async def test_table_json_and_csv(seeded: str, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    where = ("--config", config, "--database-url", seeded)
    assert await cli("simulate", *PERIOD, "--replace", "smart=cheap", *where) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "simulation 2025-06-01..2025-06-02 in USD: cost 2.0614 -> 0.203, savings 1.8584 (90.15 %)"
    assert lines[1].startswith("replace smart -> cheap (priced as openai/gpt-4o-mini, openai-o200k): 6 requests, ")
    assert "cost 2.053 -> 0.1946, savings 1.8584; tokenizer openai/gpt-4o (openai-o200k) x1" in lines[1]
    header, *body = lines[2:]
    assert header.split()[:4] == ["customer_id", "revenue", "baseline_cost", "simulated_cost"]
    assert [line.split()[:4] for line in body[:4]] == [
        ["(none)", "0", "0.008", "0.0007"],
        ["gamma", "0", "0", "0"],
        ["acme", "1", "1.975", "0.1879"],
        ["beta", "10", "0.0784", "0.0144"],
    ]
    rule, total = body[4], body[5]
    assert set(rule) == {"-", " "}
    assert all(len(line) == len(rule) for line in [header, *body[:4], total])
    assert total.split() == [
        "TOTAL",
        "11",
        "2.0614",
        "0.203",
        "1.8584",
        "8.9386",
        "10.797",
        "81.26",
        "98.15",
        "10",
        "6",
        "2",
    ]
    assert body[6].startswith("unpriced: 2 requests without a recorded cost (counted 0; on the target they would cost")
    assert body[7] == "not included: gamma paid 10 EUR"

    assert await cli("simulate", *PERIOD, "--replace", "smart=cheap", "--format", "json", *where) == 0
    assert orjson.loads(capsys.readouterr().out) == SWAP_CHEAP

    argv = ("--replace", "smart=cheap", "--customer", "beta", "--customer", "acme", "--feature", "chat")
    assert await cli("simulate", *PERIOD, *argv, "--tag", "web", "--format", "csv", *where) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    # Only acme's e1 and e11 are chat calls tagged "web": acme 1.975 - (0.025 - 0.0019) - (1.9 - 0.182) = 0.2339
    assert [(row["customer_id"], row["simulated_cost"], row["substituted_requests"]) for row in rows] == [
        ("acme", "0.2339", "2"),
        ("beta", "0.0784", "0"),
    ]


async def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for argv, message in (
        (("--replace", "smart"), "--replace 'smart': expected FROM=TO"),
        (("--replace", "a=b=c"), "expected FROM=TO"),
        (("--replace", "gpt-4o=x", "--replace", "gpt-4o=y"), "'gpt-4o' is given twice"),
        (("--replace", "gpt-4o=gpt-4o"), "replaced by itself"),
        (("--replace", "smart=gpt-4o-mini"), "unknown model 'smart'"),  # no --config: no model groups
        (("--replace", "gpt-4o=nothing-like-this"), "unknown model 'nothing-like-this'"),
        (("--replace", "gpt-4o=ollama/llama3"), "has no price"),
        (("--replace", "gpt-4o=gpt-4o-mini", "--customer", ""), "customer_ids[0]"),
    ):
        assert await cli("simulate", *PERIOD, *argv, "--database-url", url) == 1, argv
        assert message in capsys.readouterr().err, argv
    assert await cli("simulate", "--start", "2025-06-02", "--end", "2025-06-01", "--replace", "a=b") == 1
    assert "end must be on or after start" in capsys.readouterr().err
    missing = tmp_path / "missing.yaml"
    assert await cli("simulate", *PERIOD, "--replace", "a=b", "--config", str(missing), "--database-url", url) == 1
    assert "cannot read the config file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        await cli("simulate", *PERIOD)  # --replace is required
    assert exited.value.code == 2
