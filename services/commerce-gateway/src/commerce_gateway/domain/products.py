"""Commerce product JSON (`catalog-data-product-interface`) as the platform's ProductChanged, and its hash."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from contracts.events import ProductChanged, ProductStatus, TierPrice
from contracts.money import Money

Json = dict[str, Any]

STATUS_DISABLED = 2
# Products that are a sellable unit of their own. Configurable, grouped and bundle products are
# containers: their children are the products, each naming its configurable parent.
ITEM_TYPES = frozenset({"simple", "virtual", "downloadable", "giftcard"})
CONFIGURABLE = "configurable"


class NotImportable(ValueError):
    """The product is not one the platform takes (a container type) or cannot be an event."""


def decimal(value: Any) -> Decimal | None:
    """A Commerce number (JSON number, or a decimal string such as "24.000000") as a Decimal; None when empty."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, float):
        value = repr(value)  # the shortest text of the number, never its binary expansion
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def money(value: Any, currency: str) -> Money | None:
    amount = decimal(value)
    return None if amount is None else Money(amount=amount, currency=currency)


_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def commerce_time(value: Any) -> datetime | None:
    """Commerce's "YYYY-MM-DD HH:MM:SS" (UTC, no zone) or "YYYY-MM-DD", as an aware datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("T", " ")
    if _STAMP.match(text):  # what Commerce sends, parsed without strptime's cost
        try:
            return datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                            int(text[17:19]), tzinfo=UTC)
        except ValueError:
            pass
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text[:19] if pattern.endswith("%S") else text[:10], pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_commerce_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _attribute_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_attribute_text(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def custom_attributes(item: Json) -> dict[str, str]:
    """Every custom attribute as text; multi-valued ones (category_ids) comma-joined."""
    out: dict[str, str] = {}
    for entry in item.get("custom_attributes") or []:
        if isinstance(entry, dict) and isinstance(entry.get("attribute_code"), str) and entry["attribute_code"]:
            out[entry["attribute_code"]] = _attribute_text(entry.get("value"))
    return out


def _tier_prices(item: Json, currency: str) -> list[TierPrice]:
    out = []
    for tier in item.get("tier_prices") or []:
        if not isinstance(tier, dict):
            continue
        price, qty, group = money(tier.get("value"), currency), decimal(tier.get("qty")), tier.get("customer_group_id")
        if price is None or qty is None or isinstance(group, bool) or not isinstance(group, int):
            continue
        out.append(TierPrice(customer_group_id=group, quantity=qty, price=price))
    return out


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return str(value) == "1"
    return None


def configurable_children(item: Json) -> list[int]:
    """The entity ids of a configurable's children (`extension_attributes.configurable_product_links`)."""
    links = (item.get("extension_attributes") or {}).get("configurable_product_links")
    return [i for i in links if isinstance(i, int) and not isinstance(i, bool)] if isinstance(links, list) else []


def parents_of(items: Iterable[Json]) -> dict[int, str]:
    """Child entity id -> its configurable parent's SKU, from configurable products."""
    out: dict[int, str] = {}
    for item in items:
        if item.get("type_id") == CONFIGURABLE and isinstance(item.get("sku"), str):
            for child in configurable_children(item):
                out.setdefault(child, item["sku"])
    return out


class Parents(Mapping[int, str]):
    """Child entity id -> configurable parent SKU over pages of products, as `parents_of` each page with the
    pages' maps updated in order (in a page the first parent of a child wins, a later page's over an earlier
    one's), held in an array indexed by child id: four bytes per id instead of a dict entry per child, for a
    whole catalogue."""

    _IDS = 1 << 24  # child ids below this are held in the array, any other in a dict

    def __init__(self) -> None:
        self._skus: list[str] = []
        self._by_id = array("i")  # 1 + the index in _skus of each child id's parent, 0 for none
        self._children = 0
        self._other: dict[int, str] = {}

    def add(self, items: Iterable[Json]) -> None:
        """One page's products (only configurables count)."""
        page: set[int] = set()
        for item in items:
            if item.get("type_id") != CONFIGURABLE or not isinstance(item.get("sku"), str):
                continue
            self._skus.append(item["sku"])
            for child in configurable_children(item):
                if not 0 <= child < self._IDS:
                    if child not in page:
                        self._other[child] = item["sku"]
                elif child not in page:
                    if child >= len(self._by_id):
                        grown = min(self._IDS, max(child + 1, 2 * len(self._by_id)))
                        self._by_id.frombytes(bytes(self._by_id.itemsize * (grown - len(self._by_id))))
                    self._children += self._by_id[child] == 0
                    self._by_id[child] = len(self._skus)
                page.add(child)

    def get(self, child: object, default: Any = None) -> Any:
        if isinstance(child, int) and 0 <= child < self._IDS:
            index = self._by_id[child] if child < len(self._by_id) else 0
            return self._skus[index - 1] if index else default
        return self._other.get(child, default)  # type: ignore[call-overload]

    def __getitem__(self, child: int) -> str:
        found = self.get(child, _MISSING)
        if found is _MISSING:
            raise KeyError(child)
        return found  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[int]:
        yield from (child for child, index in enumerate(self._by_id) if index)
        yield from self._other

    def __len__(self) -> int:
        return self._children + len(self._other)

    def __bool__(self) -> bool:  # `parents or {}` runs once per product
        return bool(self._children or self._other)


_MISSING = object()


def product_changed(item: Json, *, store_code: str, currency: str, producer: str,
                    parents: Mapping[int, str] | None = None,
                    correlation_id: uuid.UUID | None = None) -> ProductChanged:
    """One product as a ProductChanged; NotImportable for container types and products that cannot be one."""
    sku = item.get("sku")
    type_id = item.get("type_id")
    if type_id is not None and type_id not in ITEM_TYPES:
        raise NotImportable(f"type {type_id!r} is a container; its children are the products")
    updated_at = commerce_time(item.get("updated_at")) or commerce_time(item.get("created_at"))
    if updated_at is None:
        raise NotImportable("no updated_at")
    price = money(item.get("price"), currency) or Money(amount=Decimal(0), currency=currency)
    attributes = custom_attributes(item)
    extension = item.get("extension_attributes") if isinstance(item.get("extension_attributes"), dict) else {}
    stock = extension.get("stock_item") if isinstance(extension.get("stock_item"), dict) else {}
    qty = decimal(stock.get("qty"))
    websites = extension.get("website_ids")
    visibility = item.get("visibility")
    entity_id = item.get("id")
    parent = (parents or {}).get(entity_id) if isinstance(entity_id, int) else None
    try:
        event = ProductChanged.new(
            producer=producer, store_code=store_code, sku=sku,
            name=item.get("name") if isinstance(item.get("name"), str) and item.get("name") else sku,
            status=ProductStatus.DISABLED if item.get("status") == STATUS_DISABLED else ProductStatus.ENABLED,
            price=price, quantity=max(0, int(qty)) if qty is not None else 0,
            attributes=attributes, updated_at=updated_at, product_type=type_id,
            visibility=visibility if isinstance(visibility, int) and 1 <= visibility <= 4 else None,
            parent_sku=parent,
            special_price=money(attributes.get("special_price"), currency),
            special_price_from=commerce_time(attributes.get("special_from_date")),
            special_price_to=commerce_time(attributes.get("special_to_date")),
            msrp=money(attributes.get("msrp"), currency), cost=money(attributes.get("cost"), currency),
            tier_prices=_tier_prices(item, currency),
            in_stock=_flag(stock.get("is_in_stock")), manage_stock=_flag(stock.get("manage_stock")),
            website_ids=[w for w in websites if isinstance(w, int) and not isinstance(w, bool)]
            if isinstance(websites, list) else [],
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise NotImportable(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    return event.model_copy(update={"correlation_id": correlation_id}) if correlation_id else event


_ENVELOPE = frozenset({"event_id", "event_type", "schema_version", "occurred_at", "producer", "correlation_id",
                       "causation_id"})


def content_hash(event: ProductChanged) -> str:
    """A digest of what the event says about the product (not of its envelope): equal for an unchanged product."""
    body = event.model_dump(mode="json", exclude=set(_ENVELOPE))
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class PageEvents:
    events: list[ProductChanged]
    skipped: list[str]  # "sku: why" for products that are no event of their own


def page_events(items: Iterable[Json], *, store_code: str, currency: str, producer: str,
                parents: Mapping[int, str] | None = None, correlation_id: uuid.UUID | None = None) -> PageEvents:
    events, skipped = [], []
    for item in items:
        try:
            events.append(product_changed(item, store_code=store_code, currency=currency, producer=producer,
                                          parents=parents, correlation_id=correlation_id))
        except NotImportable as exc:
            skipped.append(f"{item.get('sku')!r}: {exc}")
    return PageEvents(events, skipped)
