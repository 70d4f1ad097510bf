"""The bodies the gateway sends to create customers and orders, against the published Commerce 2.4.8 model."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from commerce_gateway.client import _json_default
from commerce_gateway.domain import orders as domain
from contracts.events import Address, CommerceOrderRequested, FulfillmentBy, OrderLine
from contracts.money import Money

STORE = domain.StoreView(id=1, code="default", website_id=1)


def on_the_wire(body: dict[str, Any]) -> Any:
    return json.loads(json.dumps(body, default=_json_default))


def request(**over: Any) -> CommerceOrderRequested:
    usd = lambda a: Money(amount=Decimal(a), currency="USD")  # noqa: E731
    fields: dict[str, Any] = dict(
        producer="order-import", account_id="acct-1", marketplace_id="ATVPDKIKX0DER",
        amazon_order_id="113-0000001-0000001", store_code="default", commerce_status="processing",
        fulfillment=FulfillmentBy.MFN, customer_email="buyer@marketplace.amazon.com", create_customer=True,
        lines=[OrderLine(order_item_id="1", sku="24-MB01", asin="B0TEST0001", quantity=2, item_price=usd("68.00"),
                         item_tax=usd("5.61"), shipping_price=usd("4.99"))],
        shipping_address=Address(name="Jane Doe", line1="1 Main St", city="Austin", region="TX",
                                 postal_code="78701", country_code="US", phone="555-0100"))
    fields.update(over)
    return CommerceOrderRequested.new(**fields)


@pytest.fixture
def model() -> Any:
    model = pytest.importorskip("magento_sim.model")
    if model.document() is None:
        pytest.skip("the published Commerce model is not available")
    return model


@pytest.mark.parametrize("customer", [None, domain.Customer(7, "Jane", "Doe")])
@pytest.mark.parametrize("address", [True, False])
@pytest.mark.parametrize("number", [None, "113-0000001-0000001"])
def test_the_order_body_is_valid_in_the_model(model: Any, customer: domain.Customer | None, address: bool,
                                              number: str | None) -> None:
    body = domain.order_payload(request(increment_id=number, **({} if address else {"shipping_address": None})),
                                STORE, customer)
    assert body["entity"].get("increment_id") == number
    assert model.problems(model.request_validator("POST", "/V1/orders"), on_the_wire(body)) == []


def test_the_customer_body_is_valid_in_the_model(model: Any) -> None:
    body = domain.customer_payload(request(), STORE)
    assert model.problems(model.request_validator("POST", "/V1/customers"), on_the_wire(body)) == []
