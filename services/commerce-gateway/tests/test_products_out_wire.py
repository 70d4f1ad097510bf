"""The bodies the gateway sends to create and update products, against the published Commerce 2.4.8 model."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce_gateway.client import _json_default
from commerce_gateway.domain import products_out as domain
from contracts.events import CommerceProductRequested, ProductStatus
from contracts.money import Money


def on_the_wire(body: dict[str, Any]) -> Any:
    return json.loads(json.dumps(body, default=_json_default))


def request(**over: Any) -> CommerceProductRequested:
    fields: dict[str, Any] = dict(
        producer="catalog-sync", account_id="acct-1", marketplace_id="ATVPDKIKX0DER", sku="AMZ-1",
        action="create", commerce_sku="AMZ-1", asin="B000TEST01", name="Amazon Tote",
        price=Money(amount=Decimal("19.99"), currency="USD"), quantity=7, website_ids=[1],
        attributes={"upc": "012345678905", "amazon_condition": "new"})
    fields.update(over)
    return CommerceProductRequested.new(**fields)


@pytest.fixture
def model() -> Any:
    model = pytest.importorskip("magento_sim.model")
    if model.document() is None:
        pytest.skip("the published Commerce model is not available")
    return model


@pytest.mark.parametrize("over", [{}, {"quantity": None, "website_ids": [], "attributes": {}, "asin": None},
                                  {"status": ProductStatus.ENABLED, "visibility": 1, "quantity": 0}])
def test_the_create_body_is_valid_in_the_model(model: Any, over: dict[str, Any]) -> None:
    body = domain.create_payload(request(**over))
    assert model.problems(model.request_validator("POST", "/V1/products"), on_the_wire(body)) == []


@pytest.mark.parametrize("over", [{}, {"name": None, "price": None, "quantity": None, "asin": None},
                                  {"attributes": {"description": "<p>Tote</p>"}, "quantity": 0}])
def test_the_update_body_is_valid_in_the_model(model: Any, over: dict[str, Any]) -> None:
    body = domain.update_payload(request(action="update", **over))
    assert model.problems(model.request_validator("PUT", "/V1/products/{sku}"), on_the_wire(body)) == []


def test_the_update_body_keeps_the_products_stock_settings_and_is_valid(model: Any) -> None:
    current = domain.found_product({"id": 9, "sku": "AMZ-1", "custom_attributes": [], "extension_attributes": {
        "stock_item": {"item_id": 9, "product_id": 9, "stock_id": 1, "qty": 3, "is_in_stock": True,
                       "use_config_backorders": False, "backorders": 1, "low_stock_date": None}}})
    body = domain.update_payload(request(action="update", quantity=0), current=current)
    stock = body["product"]["extension_attributes"]["stock_item"]
    assert (stock["item_id"], stock["qty"], stock["is_in_stock"], stock["backorders"]) == (9, 0, False, 1)
    assert model.problems(model.request_validator("PUT", "/V1/products/{sku}"), on_the_wire(body)) == []


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=st.sampled_from(["create", "update"]), name=st.text(min_size=1, max_size=80).filter(str.strip),
       cents=st.integers(min_value=0, max_value=10**8), quantity=st.none() | st.integers(min_value=0, max_value=10**5),
       attributes=st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True), st.text(max_size=20),
                                  max_size=8),
       status=st.sampled_from([ProductStatus.ENABLED, ProductStatus.DISABLED]), visibility=st.integers(1, 4))
def test_every_body_is_valid_in_the_model(model: Any, action: str, name: str, cents: int, quantity: int | None,
                                          attributes: dict[str, str], status: ProductStatus,
                                          visibility: int) -> None:
    r = request(action=action, name=name, price=Money(amount=Decimal(cents) / 100, currency="USD"),
                quantity=quantity, attributes=attributes, status=status, visibility=visibility)
    if action == "create":
        body, path, method = domain.create_payload(r), "/V1/products", "POST"
    else:
        body, path, method = domain.update_payload(r), "/V1/products/{sku}", "PUT"
    assert model.problems(model.request_validator(method, path), on_the_wire(body)) == []
