"""An Amazon listing as the `POST /V1/products` and `PUT /V1/products/{sku}` bodies, and what Commerce stored of
them: pure, no I/O."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commerce_gateway.domain import products_out as domain
from contracts.events import CommerceProductRequested, ProductStatus
from contracts.money import Money


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def request(**over: Any) -> CommerceProductRequested:
    fields: dict[str, Any] = dict(
        producer="catalog-sync", account_id="acct-1", marketplace_id="ATVPDKIKX0DER", sku="AMZ-1", action="create",
        commerce_sku="AMZ-1", asin="B000TEST01", name="  Amazon Tote ", price=usd("19.99"), quantity=7,
        website_ids=[2, 1, 2], attributes={"upc": "012345678905"})
    fields.update(over)
    return CommerceProductRequested.new(**fields)


def test_a_create_is_a_simple_product_with_the_listings_values() -> None:
    product = domain.create_payload(request())["product"]
    assert product == {
        "sku": "AMZ-1", "name": "Amazon Tote", "price": Decimal("19.99"), "status": 2, "visibility": 4,
        "type_id": "simple", "attribute_set_id": 4,
        "extension_attributes": {"website_ids": [1, 2], "stock_item": {
            **domain.NEW_STOCK_ITEM, "qty": 7, "is_in_stock": True}},
        "custom_attributes": [{"attribute_code": "amazon_asin", "value": "B000TEST01"},
                              {"attribute_code": "upc", "value": "012345678905"}]}
    enabled = domain.create_payload(request(status=ProductStatus.ENABLED, quantity=0, website_ids=[]))["product"]
    assert enabled["status"] == 1 and enabled["extension_attributes"] == {
        "stock_item": {**domain.NEW_STOCK_ITEM, "qty": 0, "is_in_stock": False}}
    bare = domain.create_payload(request(quantity=None, website_ids=[], asin=None, attributes={}))["product"]
    assert "extension_attributes" not in bare and "custom_attributes" not in bare


def test_the_mappings_own_asin_value_wins() -> None:
    body = domain.create_payload(request(attributes={"amazon_asin": "B000OTHER1"}))
    assert body["product"]["custom_attributes"] == [{"attribute_code": "amazon_asin", "value": "B000OTHER1"}]


@pytest.mark.parametrize(("over", "says"), [
    ({"name": None}, "needs a name"), ({"name": "   "}, "needs a name"), ({"price": None}, "needs a price"),
    ({"status": ProductStatus.DELETED}, "cannot be created deleted"),
    ({"price": Money(amount=Decimal("17.00"), currency="EUR")}, "base currency is USD"),
    ({"action": "update"}, "not a create"), ({"price": usd("-1.00")}, "negative price"),
])
def test_a_create_commerce_cannot_take_is_refused_before_any_call(over: dict[str, Any], says: str) -> None:
    with pytest.raises(domain.InvalidProductRequest, match=says):
        domain.create_payload(request(**over), "USD")


def test_an_update_writes_only_what_it_is_given() -> None:
    assert domain.update_payload(request(action="update", name=None, price=None, quantity=None, asin=None,
                                         attributes={"amazon_condition": "new"})) == {"product": {
        "sku": "AMZ-1", "custom_attributes": [{"attribute_code": "amazon_condition", "value": "new"}]}}
    full = domain.update_payload(request(action="update"))["product"]
    assert (full["name"], full["price"], full["extension_attributes"]["stock_item"]["qty"]) == (
        "Amazon Tote", Decimal("19.99"), 7)
    assert "status" not in full and "visibility" not in full and "website_ids" not in full["extension_attributes"]
    with pytest.raises(domain.InvalidProductRequest, match="not an update"):
        domain.update_payload(request())


def test_an_update_keeps_the_products_own_stock_settings() -> None:
    current = domain.found_product({"id": 5, "sku": "AMZ-1", "extension_attributes": {"stock_item": {
        "item_id": 5, "qty": 40, "is_in_stock": True, "use_config_backorders": False, "backorders": 2,
        "low_stock_date": None}}})
    stock = domain.update_payload(request(action="update", quantity=3), current=current)["product"][
        "extension_attributes"]["stock_item"]
    assert (stock["item_id"], stock["qty"], stock["backorders"], stock["use_config_backorders"]) == (5, 3, 2, False)
    assert stock["low_stock_date"] == ""


def test_what_commerce_did_not_store_is_named() -> None:
    sent = domain.update_payload(request(action="update", attributes={"upc": "1", "gtin": "2", "brand": ""}))
    stored = domain.found_product({"id": "12", "sku": "AMZ-1", "custom_attributes": [
        {"attribute_code": "upc", "value": "1"}, {"attribute_code": "amazon_asin", "value": "B000TEST01"}]})
    assert stored.id == 12 and domain.unstored_attributes(sent, stored) == ["gtin"]
    assert domain.unstored_note(["gtin"]) == "Commerce has no attribute gtin; the value was not stored"
    assert domain.unstored_note([]) is None
    with pytest.raises(ValueError):
        domain.found_product(["not", "a", "product"])


codes = st.from_regex(r"[a-z][a-z0-9_]{0,29}", fullmatch=True)


@given(name=st.text(min_size=1, max_size=255).filter(str.strip),
       cents=st.integers(min_value=0, max_value=10**9), quantity=st.none() | st.integers(min_value=0, max_value=10**6),
       attributes=st.dictionaries(codes, st.text(max_size=40), max_size=25),
       asin=st.none() | st.from_regex(r"B0[A-Z0-9]{8}", fullmatch=True),
       websites=st.lists(st.integers(min_value=1, max_value=9), max_size=4))
def test_a_create_body_always_names_the_sku_once_with_each_attribute_once(
        name: str, cents: int, quantity: int | None, attributes: dict[str, str], asin: str | None,
        websites: list[int]) -> None:
    price = Money(amount=Decimal(cents) / 100, currency="USD")
    r = request(name=name, price=price, quantity=quantity, attributes=attributes, asin=asin, website_ids=websites)
    product = domain.create_payload(r, "USD")["product"]
    assert product["sku"] == r.commerce_sku and product["price"] == price.amount and product["name"] == name.strip()
    written = [a["attribute_code"] for a in product.get("custom_attributes", [])]
    assert len(written) == len(set(written)) and set(written) == set(attributes) | ({"amazon_asin"} if asin else set())
    stock = product.get("extension_attributes", {}).get("stock_item")
    assert (stock is None) == (quantity is None)
    if stock is not None:
        assert stock["qty"] == quantity and stock["is_in_stock"] == (quantity > 0)
