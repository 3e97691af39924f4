"""The audit log: append and query on SQLite and PostgreSQL, secrets redacted, no way to change a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest

from tollway.governance.keys import generate_key, hash_key, key_name
from tollway.governance.records import KeyRecord, Limits
from tollway.storage.audit import MASK, AuditLog, redact
from tollway.storage.database import Database

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_redact_masks_secret_fields_and_shortens_hashes() -> None:
    key = generate_key()
    token_hash = hash_key(key)
    value = {
        "token": token_hash,
        "key": key,
        "key_name": key_name(key),
        "key_alias": "billing",
        "api_key": "anything",
        "litellm_params": {"apiKey": "x", "aws_secret_access_key": "y", "model": "gpt-4o"},
        "master_key": None,
        "password": 1234,
        "credentials": {"nested": "value"},
        "max_tokens": 100,
        "tpm_limit": 10,
        "metadata": {"note": f"rotated from {key}", "list": [{"token_hash": token_hash}]},
        "max_budget": Decimal("1.50"),
        "at": T0,
    }
    assert redact(value) == {
        "token": token_hash[:8] + "...",
        "key": MASK,
        "key_name": key_name(key),
        "key_alias": "billing",
        "api_key": MASK,
        "litellm_params": {"apiKey": MASK, "aws_secret_access_key": MASK, "model": "gpt-4o"},
        "master_key": None,
        "password": MASK,
        "credentials": MASK,
        "max_tokens": 100,
        "tpm_limit": 10,
        "metadata": {"note": f"rotated from {MASK}", "list": [{"token_hash": token_hash[:8] + "..."}]},
        "max_budget": "1.50",
        "at": T0.isoformat(),
    }
    assert key not in str(redact(value))
    assert token_hash not in str(redact(value))
    assert redact({"token": "sk-not-a-hash-but-a-key"}) == {"token": MASK}


async def test_append_and_query(database: Database) -> None:
    ticks = count()
    log = AuditLog(database, clock=lambda: T0 + timedelta(minutes=next(ticks)))
    key = generate_key()
    record = KeyRecord(token_hash=hash_key(key), key_name=key_name(key), limits=Limits(max_budget=Decimal("10")))
    first = await log.append("master", "key.generate", "key", record.token_hash, after=record)
    await log.append(
        "sk-...abcd", "key.update", "key", record.token_hash, before=record, after=record.to_api(), note="why"
    )
    await log.append("master", "team.new", "team", "t1", after={"team_id": "t1"})
    await log.append("master", "customer.delete", "customer", "c1", before={"customer_id": "c1"})
    assert first >= 1

    entries, total = await log.query()
    assert total == 4
    assert [entry.action for entry in entries] == ["customer.delete", "team.new", "key.update", "key.generate"]
    generated = entries[-1]
    assert (generated.actor, generated.target_kind, generated.target_id) == ("master", "key", record.token_hash)
    assert generated.ts == T0
    assert generated.ts.tzinfo == UTC
    assert generated.before is None
    assert generated.after["token"] == record.token_hash[:8] + "..."
    assert generated.after["max_budget"] == "10"
    assert key not in str(generated.to_api())
    assert record.token_hash not in str(generated.after)
    assert entries[2].note == "why"
    assert entries[2].before == entries[2].after

    assert [e.action for e in (await log.query(target_kind="key"))[0]] == ["key.update", "key.generate"]
    assert (await log.query(actor="sk-...abcd"))[1] == 1
    assert (await log.query(action="team.new", target_id="t1"))[1] == 1
    window, total = await log.query(start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3))
    assert ([e.action for e in window], total) == (["team.new", "key.update"], 2)
    page, total = await log.query(page=2, page_size=3)
    assert ([e.action for e in page], total) == (["key.generate"], 4)
    with pytest.raises(ValueError, match="page"):
        await log.query(page_size=5000)


def test_the_audit_log_offers_no_update_or_delete() -> None:
    public = {name for name in dir(AuditLog) if not name.startswith("_")}
    assert public == {"append", "query"}
