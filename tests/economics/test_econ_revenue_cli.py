"""``tollway revenue import FILE.csv`` through the CLI's main(), on SQLite and PostgreSQL: a good file is recorded,
a file with bad rows exits 1 naming every bad line and records nothing, and importing a file again records nothing
new."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tollway.cli import main
from tollway.storage.audit import AuditLog
from tollway.storage.database import Database
from tollway.storage.revenue_store import RevenueStore

GOOD = """customer_id,amount,currency,period_start,period_end,external_id
acme,31.00,USD,2025-01-01,2025-01-31,inv-1
acme,3100,JPY,2025-01-01,2025-01-31,inv-2
globex,10.5,usd,2025-01-15,2025-01-15,inv-3
"""


async def cli(*argv: str) -> int:
    """main(argv) in a thread: it runs its own event loop."""
    return await asyncio.to_thread(main, list(argv))


@pytest.fixture
async def opened(database_url: str) -> AsyncIterator[Database]:
    """A Database on ``database_url`` (the CLI migrates it itself)."""
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.aclose()


async def test_import_then_import_again(
    opened: Database, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "revenue.csv"
    path.write_text(GOOD)
    assert await cli("revenue", "import", str(path), "--database-url", database_url) == 0
    assert capsys.readouterr().out.strip() == f"{path}: 3 rows: 3 new, 0 already recorded"
    store = RevenueStore(opened)
    expected = {("acme", "USD"): Decimal("10.00"), ("acme", "JPY"): Decimal(1000)}
    assert await store.revenue_by_customer(date(2025, 1, 1), date(2025, 1, 10)) == expected
    records, total = await store.query()
    assert total == 3
    assert {(r.source, r.created_by) for r in records} == {("csv", "cli")}
    # Again, and again with one more row: only the new row is recorded.
    assert await cli("revenue", "import", str(path), "--database-url", database_url) == 0
    assert capsys.readouterr().out.strip() == f"{path}: 3 rows: 0 new, 3 already recorded"
    path.write_text(GOOD + "initech,5,EUR,2025-01-02,2025-01-02,inv-4\n")
    assert await cli("revenue", "import", str(path), "--database-url", database_url, "--source", "ledger") == 0
    assert capsys.readouterr().out.strip() == f"{path}: 4 rows: 4 new, 0 already recorded"  # another source
    assert (await store.query())[1] == 7
    entries, _ = await AuditLog(opened).query(action="revenue.import")
    assert [e.after for e in entries] == [{"created": 4, "already_recorded": 0}, {"created": 3, "already_recorded": 0}]


async def test_bad_rows_exit_1_and_record_nothing(
    opened: Database, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(GOOD + "acme,-5,USD,2025-01-01,2025-01-31,inv-5\nacme,5,XXX,2025-02-01,2025-01-31,inv-6\n")
    assert await cli("revenue", "import", str(path), "--database-url", database_url) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"tollway revenue import: {path}: 3 problems, nothing recorded",
        "tollway revenue import: line 5: amount: must be >= 0, got -5 (record a refund with kind 'refund')",
        "tollway revenue import: line 6: currency: unknown currency 'XXX' (expected an ISO 4217 code such as \"USD\")",
        "tollway revenue import: line 6: period_end: 2025-01-31 is before period_start 2025-02-01",
    ]
    from tollway.storage.migrate import upgrade

    await upgrade(opened)
    assert (await RevenueStore(opened).query())[1] == 0


async def test_a_changed_row_is_a_conflict_and_records_nothing(
    opened: Database, database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "revenue.csv"
    path.write_text(GOOD)
    assert await cli("revenue", "import", str(path), "--database-url", database_url) == 0
    path.write_text(GOOD.replace("10.5,usd", "11,usd") + "initech,5,EUR,2025-01-02,2025-01-02,inv-4\n")
    assert await cli("revenue", "import", str(path), "--database-url", database_url) == 1
    err = capsys.readouterr().err
    assert "csv:inv-3 is revenue 10.5 USD 2025-01-15..2025-01-15 for globex, now revenue 11 USD" in err
    assert (await RevenueStore(opened).query())[1] == 3  # inv-4 was not recorded either


def test_unreadable_files_and_databases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["revenue", "import", str(tmp_path / "missing.csv")]) == 1
    assert "cannot read" in capsys.readouterr().err
    path = tmp_path / "revenue.csv"
    path.write_text(GOOD)
    url = "postgresql://tollway:secret-pw@127.0.0.1:1/nothing"
    assert main(["revenue", "import", str(path), "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert "secret-pw" not in err
    assert "127.0.0.1:1" in err
