"""Realistic instances of events, for tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from contracts import Money
from contracts.events import ProductChanged, ProductStatus


def product(sku: str = "24-MB01", quantity: int = 100, price: str = "34.00", **kw: object) -> ProductChanged:
    fields: dict[str, object] = dict(
        sku=sku, name="Joust Duffle Bag", status=ProductStatus.ENABLED,
        price=Money(amount=Decimal(price), currency="USD"), quantity=quantity,
        updated_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )
    fields.update(kw)
    return ProductChanged.new(producer="commerce-gateway", **fields)
