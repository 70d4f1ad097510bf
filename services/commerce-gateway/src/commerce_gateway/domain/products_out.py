"""An Amazon listing as Commerce wants it: the `POST /V1/products` and `PUT /V1/products/{sku}` bodies.

A create writes a new simple product with the listing's name, price, stock and mapped attribute values; an update
writes only the fields the request gives. Commerce silently drops custom attribute codes it does not have, so what
it stored is read back from its answer (`unstored_attributes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from contracts.events import CommerceProductRequested, ProductStatus

Json = dict[str, Any]

ASIN_ATTRIBUTE = "amazon_asin"
STATUS_CODE = {ProductStatus.ENABLED: 1, ProductStatus.DISABLED: 2}


class InvalidProductRequest(ValueError):
    """The request cannot be written to Commerce as it is; Commerce is not asked."""

    code = "InvalidProductRequest"


@dataclass(frozen=True)
class FoundProduct:
    id: int | None
    custom_attribute_codes: frozenset[str]
    stock_item: Json | None = None


def custom_attributes(request: CommerceProductRequested) -> list[Json]:
    """The mapped attribute values, and the ASIN as `amazon_asin` (the mapping's own value wins)."""
    values = dict(request.attributes)
    if request.asin and ASIN_ATTRIBUTE not in values:
        values[ASIN_ATTRIBUTE] = request.asin
    return [{"attribute_code": code, "value": value} for code, value in sorted(values.items())]


# A new product's stock item: the store's configuration for everything but the quantity (the model wants them all).
NEW_STOCK_ITEM: Json = {
    "is_qty_decimal": False, "show_default_notification_message": False, "use_config_min_qty": True, "min_qty": 0,
    "use_config_min_sale_qty": 1, "min_sale_qty": 1, "use_config_max_sale_qty": True, "max_sale_qty": 10000,
    "use_config_backorders": True, "backorders": 0, "use_config_notify_stock_qty": True, "notify_stock_qty": 1,
    "use_config_qty_increments": True, "qty_increments": 0, "use_config_enable_qty_inc": True,
    "enable_qty_increments": False, "use_config_manage_stock": True, "manage_stock": True, "low_stock_date": "",
    "is_decimal_divided": False, "stock_status_changed_auto": 0,
}


def _stock_item(quantity: int, current: Json | None = None) -> Json:
    """The quantity written over the product's stock item as it is (a new product's when it has none), so
    settings the merchant made on the product stay."""
    kept = {k: v for k, v in (current or {}).items() if v is not None and k != "extension_attributes"}
    return {**NEW_STOCK_ITEM, **kept, "qty": quantity, "is_in_stock": quantity > 0}


def _price(request: CommerceProductRequested, base_currency: str | None) -> Decimal | None:
    if request.price is None:
        return None
    if request.price.amount < 0:
        raise InvalidProductRequest(f"product {request.commerce_sku}: a negative price ({request.price})")
    if base_currency and request.price.currency != base_currency:
        raise InvalidProductRequest(
            f"product {request.commerce_sku}: price in {request.price.currency}, the store's base currency is "
            f"{base_currency}")
    return request.price.amount


def create_payload(request: CommerceProductRequested, base_currency: str | None = None) -> Json:
    """`POST /V1/products` `{"product": …}`: a simple product; name and price are required."""
    if request.action != "create":
        raise InvalidProductRequest(f"product {request.commerce_sku}: not a create request")
    if not (request.name and request.name.strip()):
        raise InvalidProductRequest(f"product {request.commerce_sku}: a new product needs a name")
    price = _price(request, base_currency)
    if price is None:
        raise InvalidProductRequest(f"product {request.commerce_sku}: a new product needs a price")
    if request.status not in STATUS_CODE:
        raise InvalidProductRequest(f"product {request.commerce_sku}: cannot be created {request.status.value}")
    product: Json = {
        "sku": request.commerce_sku, "name": request.name.strip(), "price": price,
        "status": STATUS_CODE[request.status], "visibility": request.visibility, "type_id": "simple",
        "attribute_set_id": request.attribute_set_id,
    }
    extension: Json = {}
    if request.website_ids:
        extension["website_ids"] = sorted(set(request.website_ids))
    if request.quantity is not None:
        extension["stock_item"] = _stock_item(request.quantity)
    if extension:
        product["extension_attributes"] = extension
    attributes = custom_attributes(request)
    if attributes:
        product["custom_attributes"] = attributes
    return {"product": product}


def update_payload(request: CommerceProductRequested, base_currency: str | None = None,
                   current: FoundProduct | None = None) -> Json:
    """`PUT /V1/products/{sku}` `{"product": …}`: only what the request gives (name, price, stock, attributes);
    the quantity goes into the product's `current` stock item."""
    if request.action != "update":
        raise InvalidProductRequest(f"product {request.commerce_sku}: not an update request")
    product: Json = {"sku": request.commerce_sku}
    if request.name and request.name.strip():
        product["name"] = request.name.strip()
    price = _price(request, base_currency)
    if price is not None:
        product["price"] = price
    if request.quantity is not None:
        product["extension_attributes"] = {
            "stock_item": _stock_item(request.quantity, current.stock_item if current else None)}
    attributes = custom_attributes(request)
    if attributes:
        product["custom_attributes"] = attributes
    return {"product": product}


def found_product(body: Any) -> FoundProduct:
    """The id and stored attribute codes of a product as Commerce answers it (GET, POST or PUT)."""
    if not isinstance(body, dict):
        raise ValueError("the product is not a JSON object")
    raw_id = body.get("id")
    codes = frozenset(str(a["attribute_code"]) for a in body.get("custom_attributes") or []
                      if isinstance(a, dict) and a.get("attribute_code"))
    extension = body.get("extension_attributes")
    stock = extension.get("stock_item") if isinstance(extension, dict) else None
    return FoundProduct(int(raw_id) if raw_id not in (None, "") else None, codes,
                        dict(stock) if isinstance(stock, dict) else None)


def unstored_attributes(sent: Json, stored: FoundProduct) -> list[str]:
    """Attribute codes written with a value that Commerce's answer does not carry (it has no such attribute)."""
    return sorted(str(a["attribute_code"]) for a in sent["product"].get("custom_attributes", [])
                  if a.get("value") not in (None, "") and a["attribute_code"] not in stored.custom_attribute_codes)


def unstored_note(codes: list[str]) -> str | None:
    if not codes:
        return None
    return f"Commerce has no attribute {', '.join(codes)}; the value was not stored"
