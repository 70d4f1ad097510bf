"""Webhook pushes read into what they say, and deleted products: pure, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce_gateway.domain.deletions import deleted_product, gone, lookup_batches
from commerce_gateway.domain.products import NotImportable, product_changed
from commerce_gateway.domain.webhooks import (
    MalformedPush,
    ProductDeleted,
    ProductSaved,
    SalesPushed,
    check_product,
    read_push,
)
from contracts.events import ProductStatus

PRODUCT: dict[str, Any] = {
    "id": 1, "sku": "24-MB01", "name": "Joust Duffle Bag", "attribute_set_id": 15, "price": 34, "status": 1,
    "visibility": 4, "type_id": "simple", "created_at": "2024-03-06 10:00:00", "updated_at": "2024-03-07 11:30:00",
    "extension_attributes": {"website_ids": [1, 2], "stock_item": {"qty": 100, "is_in_stock": True}},
    "custom_attributes": [{"attribute_code": "cost", "value": "12.000000"}], "tier_prices": [],
}


def raw(body: Any) -> bytes:
    return json.dumps(body).encode()


def test_a_product_body_is_a_saved_product_read_with_decimal_numbers() -> None:
    push = read_push("product", raw({**PRODUCT, "price": 34.5}))
    assert isinstance(push, ProductSaved) and push.item["price"] == Decimal("34.5")
    assert isinstance(read_push(None, raw(PRODUCT)), ProductSaved)  # no header: a product


def test_a_deletion_envelope_is_a_deleted_product() -> None:
    push = read_push("product", raw({"entity": "product", "event": "deleted", "product": PRODUCT}))
    assert isinstance(push, ProductDeleted) and push.sku == "24-MB01"


@pytest.mark.parametrize("entity", ["order", "shipment"])
def test_a_sales_push_keeps_its_whole_body(entity: str) -> None:
    body = {"entity": entity, "event": "created", entity: {"entity_id": 5}}
    assert read_push(entity, raw(body)) == SalesPushed(entity, "created", body)
    assert read_push(None, raw(body)) == SalesPushed(entity, "created", body)


@pytest.mark.parametrize(("entity", "body", "field"), [
    ("product", b"\xff\xfe", "body"),
    ("product", b"{", "body"),
    ("product", raw("24-MB01"), "body"),
    ("product", raw({**PRODUCT, "sku": ""}), "body.sku"),
    ("product", raw({**PRODUCT, "sku": 5}), "body.sku"),
    ("product", raw({**PRODUCT, "id": "1"}), "body.id"),
    ("product", raw({**PRODUCT, "name": ["a"]}), "body.name"),
    ("product", raw({**PRODUCT, "visibility": 4.5}), "body.visibility"),
    ("product", raw({**PRODUCT, "type_id": 1}), "body.type_id"),
    ("product", raw({**PRODUCT, "updated_at": "yesterday", "created_at": None}), "body.updated_at"),
    ("product", raw({**PRODUCT, "tier_prices": {"qty": 1}}), "body.tier_prices"),
    ("product", raw({**PRODUCT, "extension_attributes": []}), "body.extension_attributes"),
    ("product", raw({**PRODUCT, "extension_attributes": {"stock_item": 3}}), "body.extension_attributes.stock_item"),
    ("product", raw({**PRODUCT, "extension_attributes": {"website_ids": ["1"]}}),
     "body.extension_attributes.website_ids"),
    ("product", raw({**PRODUCT, "extension_attributes": {"configurable_product_links": [True]}}),
     "body.extension_attributes.configurable_product_links"),
    ("product", raw({"entity": "product", "event": "deleted", "product": {"name": "no sku"}}), "body.product.sku"),
    ("product", raw({"entity": 3, "event": "deleted"}), "body.entity"),
    ("invoice", raw({"entity": "invoice", "event": "created", "invoice": {}}), "header.X-Magento-Webhook-Entity"),
    (None, raw({"entity": "invoice", "event": "created"}), "header.X-Magento-Webhook-Entity"),
    ("order", raw({"entity": "order", "event": "", "order": {}}), "body.event"),
    ("order", raw({"entity": "order", "event": "created", "order": [1]}), "body.order"),
])
def test_a_push_that_cannot_be_read_names_the_field(entity: str | None, body: bytes, field: str) -> None:
    with pytest.raises(MalformedPush) as raised:
        read_push(entity, body)
    assert raised.value.field == field and raised.value.reason


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["id", "name", "price", "status", "updated_at", "extension_attributes",
                                        "custom_attributes", "weight"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                                 st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                      st.integers(), max_size=2))))
def test_a_product_that_passes_the_check_becomes_an_event_or_is_skipped_never_an_error(over: dict[str, Any]) -> None:
    item = {**PRODUCT, **over}
    try:
        checked = check_product(item)
    except MalformedPush:
        return
    try:
        event = product_changed(checked, store_code="default", currency="USD", producer="test")
    except NotImportable:
        return
    assert event.sku == PRODUCT["sku"] and event.quantity >= 0


NOW = datetime(2024, 3, 8, 9, 0, tzinfo=UTC)


def test_a_deleted_product_keeps_its_last_values_with_status_deleted_and_nothing_to_sell() -> None:
    last = product_changed(PRODUCT, store_code="default", currency="USD", producer="test", parents={1: "24-MB"})
    event = deleted_product("24-MB01", store_code="default", currency="USD", producer="test", at=NOW, last=last)
    assert event.status is ProductStatus.DELETED and event.quantity == 0 and event.in_stock is False
    assert (event.name, event.price, event.parent_sku, event.attributes) == (last.name, last.price, "24-MB",
                                                                              last.attributes)
    assert event.updated_at == NOW and event.event_id != last.event_id
    earlier = deleted_product("24-MB01", store_code="default", currency="USD", producer="test",
                              at=datetime(2020, 1, 1, tzinfo=UTC), last=last)
    assert earlier.updated_at == last.updated_at  # never older than the change it replaces


def test_a_deleted_product_known_by_its_sku_only_is_named_by_it_at_price_zero() -> None:
    event = deleted_product("24-MB01", store_code="eu_en", currency="EUR", producer="test", at=NOW)
    assert (event.sku, event.name, event.status, event.quantity) == ("24-MB01", "24-MB01", ProductStatus.DELETED, 0)
    assert event.price.amount == 0 and event.price.currency == "EUR" and event.store_code == "eu_en"


def test_gone_is_what_was_emitted_and_is_not_listed_whatever_the_case() -> None:
    assert gone(["A-1", "b-2", "C-3", "d-4"], ["a-1", "B-2", "x"]) == ["C-3", "d-4"]
    assert gone([], ["a"]) == [] and gone(["a"], []) == ["a"]


@given(st.lists(st.text(alphabet="ab,-", min_size=1, max_size=4), unique=True), st.integers(1, 5))
def test_lookup_batches_hold_every_sku_once_and_a_comma_sku_alone(skus: list[str], size: int) -> None:
    batches = lookup_batches(skus, size)
    assert sorted(s for b in batches for s in b) == sorted(skus)
    assert all(len(b) <= size for b in batches)
    assert all(len(b) == 1 for b in batches if any("," in s for s in b))
