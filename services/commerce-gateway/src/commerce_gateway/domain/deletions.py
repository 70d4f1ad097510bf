"""Deleted products: the ProductChanged that says so, and which emitted SKUs the catalogue no longer holds.

A deleted product's event carries status `deleted`, quantity 0 and, as its time, the deletion's (never earlier
than the last change it replaces). Name, price and the rest are the product's last values when the deletion
came with them (a webhook sends the product as it was); a deletion found by comparing SKUs has none, so it
names the product by its SKU and prices it at 0 in the base currency: consumers treat a deleted product as not
sellable and do not use those values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from contracts.events import ProductChanged, ProductStatus
from contracts.money import Money

_ENVELOPE = frozenset({"event_id", "event_type", "schema_version", "occurred_at", "producer", "correlation_id",
                       "causation_id"})


def deleted_product(sku: str, *, store_code: str, currency: str, producer: str, at: datetime,
                    last: ProductChanged | None = None) -> ProductChanged:
    if last is None:
        return ProductChanged.new(producer=producer, store_code=store_code, sku=sku, name=sku,
                                  status=ProductStatus.DELETED, price=Money(amount=Decimal(0), currency=currency),
                                  quantity=0, updated_at=at, in_stock=False)
    fields = last.model_dump(exclude=set(_ENVELOPE))
    fields.update(status=ProductStatus.DELETED, quantity=0, in_stock=False, updated_at=max(at, last.updated_at))
    return ProductChanged.new(producer=producer, **fields)


def gone(known: Iterable[str], listed: Iterable[str]) -> list[str]:
    """The known SKUs the listing lacks, sorted; SKUs compare without case, as Commerce stores them."""
    present = {sku.casefold() for sku in listed}
    return sorted(sku for sku in set(known) if sku.casefold() not in present)


def lookup_batches(skus: Iterable[str], size: int) -> list[list[str]]:
    """SKUs in groups for one `sku in a,b,c` lookup each; a SKU holding a comma goes alone (as `sku eq`)."""
    plain, alone = [], []
    for sku in skus:
        (alone if "," in sku else plain).append(sku)
    return [plain[i:i + size] for i in range(0, len(plain), size)] + [[sku] for sku in alone]
