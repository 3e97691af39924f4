"""``tollway report margin`` through the CLI's main(), on SQLite and PostgreSQL, on the hand-computed dataset of
``margin_data``: the aligned table, CSV and JSON give the hand-computed numbers; bad arguments exit 1."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from econ_support import cli, seeded_url
from margin_data import BY_CUSTOMER, BY_MODEL, OTHER_CURRENCIES, TOTALS, seed

PERIOD = ("--start", "2025-06-01", "--end", "2025-06-02")


@pytest.fixture
async def seeded(database_url: str) -> str:
    """``database_url``, migrated and holding the dataset."""
    return await seeded_url(database_url, seed)


async def test_table(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli("report", "margin", *PERIOD, "--database-url", seeded) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "margin 2025-06-01..2025-06-02 in USD, by customer"
    header, *body = lines[1:]
    assert header.split() == ["customer_id", *TOTALS]
    # Columns line up: every line of the table is as wide as the rule under the rows.
    rule = body[4]
    assert set(rule) == {"-", " "}
    assert [line.split() for line in body[:4]] == [
        ["gamma", "20", "35", "-15", "-75.00", "3", "12100", "3510", "1"],
        ["(none)", "0", "0.75", "-0.75", "-", "1", "300", "30", "0"],
        ["beta", "8", "2.25", "5.75", "71.88", "2", "900", "110", "0"],
        ["acme", "100", "3", "97", "97.00", "2", "1500", "300", "0"],
    ]
    assert all(len(line) == len(rule) for line in [header, *body[:4], body[5]])
    assert body[5].split() == ["TOTAL", "128", "41", "87", "67.97", "8", "14800", "3950", "1"]
    assert body[6] == "not included: gamma paid 15 EUR"


async def test_csv_and_json(seeded: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        await cli("report", "margin", *PERIOD, "--group-by", "model", "--format", "csv", "--database-url", seeded) == 0
    )
    lines = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert lines[0] == ["customer_id", "model", *TOTALS]
    assert lines[1:] == [["" if value is None else str(value) for value in row.values()] for row in BY_MODEL]
    assert await cli("report", "margin", *PERIOD, "--format", "json", "--database-url", seeded) == 0
    body = orjson.loads(capsys.readouterr().out)
    assert (body["rows"], body["totals"], body["other_currencies"]) == (BY_CUSTOMER, TOTALS, OTHER_CURRENCIES)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--start", "2025-06-02", "--end", "2025-06-01"), "--end is before --start"),
        (("--start", "June", "--end", "2025-06-01"), "YYYY-MM-DD"),
        ((*PERIOD, "--currency", "EUR"), "margin is reported in USD only"),
    ],
)
async def test_bad_arguments(
    seeded: str, argv: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli("report", "margin", *argv, "--database-url", seeded) == 1
    assert message in capsys.readouterr().err
