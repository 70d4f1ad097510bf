"""A Commerce webhook push read into what it says: a product saved, a product deleted, or a sales record.

Bodies (as magento-sim sends them, the entity also named in `X-Magento-Webhook-Entity`):

- a product saved: the product as `GET /V1/products/{sku}` renders it;
- a product deleted: `{"entity": "product", "event": "deleted", "product": <the product as it was>}`;
- an order or shipment: `{"entity": "order" | "shipment", "event": "created" | "canceled", "<entity>": <record>}`.

Everything read from a product is checked against the types of the model's `catalog-data-product-interface`,
so a body that would be misread is refused with the field named instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from commerce_gateway.domain.products import commerce_time

Json = dict[str, Any]
PRODUCT = "product"
SALES_ENTITIES = frozenset({"order", "shipment"})
ENTITIES = frozenset({PRODUCT}) | SALES_ENTITIES
MAX_SKU = 64


class MalformedPush(ValueError):
    """The push cannot be read; `field` names where (`body.sku`, `header.X-Magento-Webhook-Entity`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class ProductSaved:
    item: Json


@dataclass(frozen=True)
class ProductDeleted:
    item: Json  # the product as it was before the deletion

    @property
    def sku(self) -> str:
        return str(self.item["sku"])


@dataclass(frozen=True)
class SalesPushed:
    entity: str
    event: str
    body: Json


Push = ProductSaved | ProductDeleted | SalesPushed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or isinstance(value, float | Decimal)


def _check(ok: bool, field: str, reason: str) -> None:
    if not ok:
        raise MalformedPush(field, reason)


_SCALARS: dict[str, tuple[Any, str]] = {
    "id": (_is_int, "an integer"),
    "name": (lambda v: isinstance(v, str), "a string"),
    "attribute_set_id": (_is_int, "an integer"),
    "price": (_is_number, "a number"),
    "status": (_is_int, "an integer"),
    "visibility": (_is_int, "an integer"),
    "type_id": (lambda v: isinstance(v, str), "a string"),
    "created_at": (lambda v: isinstance(v, str), "a string"),
    "updated_at": (lambda v: isinstance(v, str), "a string"),
    "weight": (_is_number, "a number"),
}
_LISTS = ("product_links", "options", "media_gallery_entries", "tier_prices", "custom_attributes")


def check_product(item: Any, where: str = "body") -> Json:
    """The product, or MalformedPush naming the first field whose type the model does not allow."""
    _check(isinstance(item, dict), where, "must be a product object")
    sku = item.get("sku")
    _check(isinstance(sku, str) and bool(sku.strip()), f"{where}.sku", "required: a non-empty string")
    _check(len(sku) <= MAX_SKU, f"{where}.sku", f"at most {MAX_SKU} characters")
    for name, (test, kind) in _SCALARS.items():
        if item.get(name) is not None:
            _check(test(item[name]), f"{where}.{name}", f"must be {kind}")
    _check(commerce_time(item.get("updated_at")) is not None or commerce_time(item.get("created_at")) is not None,
           f"{where}.updated_at", "required: the time of the change (YYYY-MM-DD HH:MM:SS)")
    for name in _LISTS:
        if item.get(name) is not None:
            _check(isinstance(item[name], list) and all(isinstance(x, dict) for x in item[name]),
                   f"{where}.{name}", "must be a list of objects")
    for i, attribute in enumerate(item.get("custom_attributes") or []):
        _check(isinstance(attribute.get("attribute_code"), str), f"{where}.custom_attributes.{i}.attribute_code",
               "required: a string")
    extension = item.get("extension_attributes")
    if extension is not None:
        _check(isinstance(extension, dict), f"{where}.extension_attributes", "must be an object")
        stock = extension.get("stock_item")
        _check(stock is None or isinstance(stock, dict), f"{where}.extension_attributes.stock_item",
               "must be an object")
        if isinstance(stock, dict) and stock.get("qty") is not None:
            _check(_is_number(stock["qty"]), f"{where}.extension_attributes.stock_item.qty", "must be a number")
        for name in ("website_ids", "configurable_product_links"):
            ids = extension.get(name)
            _check(ids is None or (isinstance(ids, list) and all(_is_int(i) for i in ids)),
                   f"{where}.extension_attributes.{name}", "must be a list of integers")
    return item


def read_push(entity_header: str | None, raw: bytes) -> Push:
    """What a push says; MalformedPush when it is not JSON, not an object, names no known entity or lacks
    what its entity needs."""
    try:
        body = json.loads(raw, parse_float=Decimal)  # numbers read as the client reads them
    except (UnicodeDecodeError, ValueError):
        raise MalformedPush("body", "not JSON") from None
    _check(isinstance(body, dict), "body", "must be a JSON object")
    named = body.get("entity")
    _check(named is None or isinstance(named, str), "body.entity", "must be a string")
    entity = entity_header if entity_header is not None else (named or PRODUCT)
    _check(entity in ENTITIES, "header.X-Magento-Webhook-Entity",
           f"unknown entity {entity!r}: one of {', '.join(sorted(ENTITIES))}")
    _check(named is None or named == entity, "body.entity", f"{named!r} differs from the header's {entity!r}")
    if entity == PRODUCT:
        if named is None:
            return ProductSaved(check_product(body))
        _check(body.get("event") == "deleted", "body.event", "a product envelope must say 'deleted'")
        return ProductDeleted(check_product(body.get("product"), "body.product"))
    event = body.get("event")
    _check(isinstance(event, str) and bool(event), "body.event", "required: a string")
    _check(isinstance(body.get(entity), dict), f"body.{entity}", f"required: the {entity} record")
    return SalesPushed(entity, event, body)
