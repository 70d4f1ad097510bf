"""An Amazon order as a Commerce `POST /V1/orders` entity, its customer and what Commerce answers: pure, no I/O."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from commerce_gateway.domain import orders as domain
from contracts.events import Address, CommerceOrderRequested, FulfillmentBy, OrderLine
from contracts.money import Money

STORE = domain.StoreView(id=1, code="default", website_id=1)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def line(item_id: str = "1", sku: str = "MH01-S-Gray", quantity: int = 2, price: str = "104.00",
         tax: str | None = "8.32", shipping: str | None = "4.99") -> OrderLine:
    return OrderLine(order_item_id=item_id, sku=sku, asin="B0TEST0001", quantity=quantity, item_price=usd(price),
                     item_tax=usd(tax) if tax else None, shipping_price=usd(shipping) if shipping else None)


def request(**over: Any) -> CommerceOrderRequested:
    fields: dict[str, Any] = dict(
        producer="order-import", account_id="acct-1", marketplace_id="ATVPDKIKX0DER",
        amazon_order_id="113-0000001-0000001", store_code="default", commerce_status="processing",
        fulfillment=FulfillmentBy.MFN, lines=[line()], order_total=usd("117.31"),
        customer_email="buyer@marketplace.amazon.com",
        shipping_address=Address(name="Jane Q. Doe", line1="1 Main St", line2="Apt 2", city="Escondido",
                                 region="CA", postal_code="92025", country_code="us", phone="555-0100"))
    fields.update(over)
    return CommerceOrderRequested.new(**fields)


def test_the_amazon_order_id_is_the_ext_order_id_and_the_store_view_is_the_requested_one() -> None:
    entity = domain.order_payload(request(), domain.StoreView(2, "eu_en", 2), None)["entity"]
    assert entity["ext_order_id"] == "113-0000001-0000001"
    assert entity["store_id"] == 2 and all(i["store_id"] == 2 for i in entity["items"])


def test_amazon_prices_taxes_and_totals_are_the_orders() -> None:
    entity = domain.order_payload(request(lines=[line(), line("2", "WS12-M-Orange", 1, "22.00", None, None)]),
                                  STORE, None)["entity"]
    first, second = entity["items"]
    assert (first["qty_ordered"], first["price"], first["row_total"], first["tax_amount"]) == (
        2, Decimal("52.00"), Decimal("104.00"), Decimal("8.32"))
    assert first["price_incl_tax"] == Decimal("56.16") and first["ext_order_item_id"] == "1"
    assert second["tax_amount"] == Decimal("0.00") and second["price"] == Decimal("22.00")
    assert entity["subtotal"] == Decimal("126.00") and entity["tax_amount"] == Decimal("8.32")
    assert entity["shipping_amount"] == Decimal("4.99")
    assert entity["grand_total"] == entity["base_grand_total"] == Decimal("117.31")  # Amazon's total wins
    assert entity["order_currency_code"] == entity["base_currency_code"] == "USD"
    assert entity["total_qty_ordered"] == 3 and entity["total_item_count"] == 2


def test_without_an_order_total_the_grand_total_is_the_sum() -> None:
    entity = domain.order_payload(request(order_total=None), STORE, None)["entity"]
    assert entity["grand_total"] == Decimal("117.31")


def test_cancelled_lines_are_left_out_and_an_order_of_none_is_invalid() -> None:
    entity = domain.order_payload(request(lines=[line(), line("2", quantity=0)]), STORE, None)["entity"]
    assert [i["ext_order_item_id"] for i in entity["items"]] == ["1"]
    with pytest.raises(domain.InvalidOrderRequest, match="no items"):
        domain.order_payload(request(lines=[line(quantity=0)]), STORE, None)


def test_mixed_currencies_are_invalid() -> None:
    with pytest.raises(domain.InvalidOrderRequest, match="EUR, USD"):
        domain.order_payload(request(order_total=Money(amount=Decimal("1"), currency="EUR")), STORE, None)


def test_a_guest_order_carries_the_buyer_and_the_addresses() -> None:
    entity = domain.order_payload(request(), STORE, None)["entity"]
    assert entity["customer_is_guest"] == 1 and "customer_id" not in entity
    assert (entity["customer_firstname"], entity["customer_lastname"]) == ("Jane", "Q. Doe")
    assert entity["customer_email"] == "buyer@marketplace.amazon.com"
    shipping = entity["extension_attributes"]["shipping_assignments"][0]["shipping"]
    assert shipping["address"]["address_type"] == "shipping" and shipping["method"] == "flatrate_flatrate"
    assert shipping["address"]["street"] == ["1 Main St", "Apt 2"] and shipping["address"]["country_id"] == "US"
    assert shipping["address"]["region_code"] == "CA"
    assert entity["billing_address"]["address_type"] == "billing"
    assert entity["billing_address"]["postcode"] == "92025"


def test_a_customer_order_names_the_customer() -> None:
    customer = domain.Customer(id=7, firstname="Jane", lastname="Doe", group_id=1)
    entity = domain.order_payload(request(create_customer=True), STORE, customer)["entity"]
    assert (entity["customer_id"], entity["customer_is_guest"], entity["customer_group_id"]) == (7, 0, 1)


def test_withheld_fields_get_placeholders_and_an_email_is_always_there() -> None:
    entity = domain.order_payload(request(customer_email=None, shipping_address=None), STORE, None)["entity"]
    address = entity["billing_address"]
    assert (address["firstname"], address["lastname"]) == domain.PLACEHOLDER_PERSON
    assert address["street"] == [domain.PLACEHOLDER] and address["city"] == domain.PLACEHOLDER
    assert address["country_id"] == "US"
    assert entity["customer_email"] == "113-0000001-0000001@marketplace.amazon.invalid"


def test_status_sets_its_state() -> None:
    assert domain.order_payload(request(commerce_status="pending"), STORE, None)["entity"]["state"] == "new"
    assert domain.order_payload(request(commerce_status="complete"), STORE, None)["entity"]["state"] == "complete"
    entity = domain.order_payload(request(commerce_status="amazon_new"), STORE, None)["entity"]
    assert (entity["state"], entity["status"]) == ("processing", "amazon_new")


@pytest.mark.parametrize(("name", "expected"), [
    ("Jane Doe", ("Jane", "Doe")), ("  Jane   van  Doe ", ("Jane", "van Doe")), ("Cher", ("Cher", "Cher")),
    ("José O'Brien-Smith", ("José", "O'Brien-Smith")), ("J@ne <Doe>", ("J", "ne Doe")), ("", ("Amazon", "Customer")),
    (None, ("Amazon", "Customer")), ("@#$", ("Amazon", "Customer")),
])
def test_names_lose_special_characters(name: str | None, expected: tuple[str, str]) -> None:
    assert domain.split_name(name) == expected


def test_customer_payload_is_on_the_store_website_with_the_address_as_default() -> None:
    body = domain.customer_payload(request(create_customer=True), domain.StoreView(3, "fr", 2))["customer"]
    assert (body["email"], body["firstname"], body["lastname"]) == ("buyer@marketplace.amazon.com", "Jane", "Q. Doe")
    assert (body["website_id"], body["store_id"]) == (2, 3)
    address = body["addresses"][0]
    assert address["default_shipping"] and address["default_billing"]
    assert address["region"] == {"region": "CA", "region_code": "CA", "region_id": 0}
    with pytest.raises(domain.InvalidOrderRequest):
        domain.customer_payload(request(customer_email=None), STORE)


def test_wants_customer_only_when_asked_and_there_is_an_email() -> None:
    assert domain.wants_customer(request(create_customer=True))
    assert not domain.wants_customer(request())
    assert not domain.wants_customer(request(create_customer=True, customer_email=None))


def test_answers_read() -> None:
    search = {"items": [{"entity_id": 5, "increment_id": "000000005", "ext_order_id": "other"},
                        {"entity_id": 9, "increment_id": "000000009", "ext_order_id": "113-0000001-0000001"}],
              "total_count": 2}
    assert domain.find_order(search, "113-0000001-0000001") == domain.CreatedOrder("9", "000000009")
    assert domain.find_order({"items": [], "total_count": 0}, "x") is None
    customers = {"items": [{"id": 3, "email": "A@x.com", "website_id": 2, "firstname": "A", "lastname": "B"},
                           {"id": 4, "email": "a@x.com", "website_id": 1, "firstname": "A", "lastname": "B",
                            "group_id": 1}]}
    assert domain.find_customer(customers, "a@X.com", 1) == domain.Customer(4, "A", "B", 1)
    assert domain.find_customer(customers, "b@x.com", 1) is None
    views = domain.store_views([{"id": 0, "code": "admin", "website_id": 0},
                                {"id": 1, "code": "default", "website_id": 1}])
    assert views == {"default": STORE}
    with pytest.raises(ValueError):
        domain.created_order({"increment_id": "1"})


def _order(state: str, *items: tuple[float, float, float]) -> dict[str, Any]:
    return {"entity_id": 9, "increment_id": "000000009", "state": state,
            "items": [{"qty_ordered": o, "qty_invoiced": i, "qty_canceled": c} for o, i, c in items]}


@pytest.mark.parametrize(("order", "left"), [
    (_order("new", (2, 0, 0)), True),
    (_order("processing", (2, 1, 0), (1, 1, 0)), True),
    (_order("processing", (2, 2, 0), (1, 0, 1)), False),
    (_order("complete", (2, 0, 0)), False),
    (_order("holded", (2, 0, 0)), False),
    (_order("canceled", (2, 0, 0)), False),
    ({"entity_id": 9, "state": "new", "items": [{"qty_ordered": "x"}]}, False),
])
def test_an_order_is_to_invoice_while_items_are_left_in_a_state_that_allows_it(order: dict[str, Any],
                                                                               left: bool) -> None:
    assert domain.created_order(order).to_invoice is left


def test_only_merchant_fulfilled_orders_are_invoiced_and_only_when_asked() -> None:
    open_order = domain.created_order(_order("new", (1, 0, 0)))
    on, off = domain.OrderOptions(), domain.OrderOptions(invoice=False)
    assert domain.wants_invoice(request(), open_order, on)
    assert not domain.wants_invoice(request(fulfillment=FulfillmentBy.AFN), open_order, on)
    assert not domain.wants_invoice(request(), open_order, off)
    assert not domain.wants_invoice(request(), domain.created_order(_order("processing", (1, 1, 0))), on)
    assert domain.invoice_payload() == {"capture": True, "notify": False}
