"""``Money``: a column type that keeps ``Decimal`` exact on every database.

PostgreSQL stores ``NUMERIC(28, 12)``. SQLite has no exact decimal type (its NUMERIC affinity stores a float), so
there the value is TEXT holding the canonical decimal string, and sums are done in Python by the store.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["MONEY_PLACES", "Money"]

# Twelve places: the smallest per-token prices (a few 1e-9 USD) times cache-read discounts stay exact.
MONEY_PLACES = 12


class Money(TypeDecorator[Decimal]):
    """A ``Decimal`` amount of money (USD unless a currency column says otherwise)."""

    impl = Numeric(28, MONEY_PLACES)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """NUMERIC where the database has it exactly; TEXT on SQLite."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(28, MONEY_PLACES, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Decimal (or an int or decimal string) in; the canonical string on SQLite."""
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        if dialect.name == "sqlite":
            return format(amount, "f")
        return amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Always a Decimal out (or None)."""
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))
