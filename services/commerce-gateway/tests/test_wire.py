"""The gateway against Adobe's published Commerce 2.4.8 model: the request check every `sim` test runs, and the guard
that drives every operation the gateway declares and checks request and answer."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import magento_sim
from commerce_gateway.client import OPERATIONS, CommerceClient
from commerce_gateway.domain import orders, products_out
from commerce_gateway.domain.orders import OrderOptions
from contracts.events import Address, CommerceOrderRequested, CommerceProductRequested, FulfillmentBy, OrderLine
from contracts.money import Money
from magento_sim import model


def req(method: str, url: str, body: Any = None, **params: str) -> httpx.Request:
    content = json.dumps(body).encode() if body is not None else None
    return httpx.Request(method, "http://commerce.test" + url, params=params, content=content)


def test_requests_the_model_accepts_pass(kit: Any) -> None:
    assert kit.request_problems(req("GET", "/rest/default/V1/products", **{
        "searchCriteria[pageSize]": "10", "searchCriteria[filterGroups][1][filters][0][field]": "sku"})) == []
    assert kit.request_problems(req("POST", "/rest/default/V1/customers", {
        "customer": {"email": "a@example.com", "firstname": "A", "lastname": "B"}})) == []


def test_requests_the_model_refuses_are_named(kit: Any) -> None:
    [unknown] = kit.request_problems(req("GET", "/rest/default/V1/productz"))
    assert "no operation" in unknown
    [query] = kit.request_problems(req("GET", "/rest/default/V1/products", **{"searchCriteria[page_size]": "10"}))
    assert "searchCriteria[page_size]" in query
    body = kit.request_problems(req("POST", "/rest/default/V1/customers", {"customer": {"email": 7}}))
    assert any("customer/email" in p for p in body) and any("firstname" in p for p in body)
    assert kit.request_problems(req("POST", "/rest/default/V1/customers"))[0].endswith("needs one")
    assert kit.request_problems(req("GET", "/rest/default/V1/orders/3", {"x": 1}))[0].endswith("takes none")


# ---------------------------------------------------------------- the guard: every declared operation, driven


class Answers(httpx.AsyncBaseTransport):
    """Keeps each answer with the model operation of its request."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, int, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        path = model.match(request.method, request.url.path)
        if path is not None:
            self.seen.append((request.method, path, response.status_code, json.loads(content) if content else None))
        return httpx.Response(response.status_code, headers=response.headers, content=content)


def order_request() -> Any:
    usd = Money(amount=Decimal("45.00"), currency="USD")
    return CommerceOrderRequested.new(
        producer="order-import", account_id="acct-1", marketplace_id="ATVPDKIKX0DER",
        amazon_order_id="113-0000009-0000009", store_code="default", commerce_status="processing",
        fulfillment=FulfillmentBy.MFN, customer_email="wire@marketplace.amazon.com", create_customer=True,
        lines=[OrderLine(order_item_id="1", sku="24-MB01", asin="B0WIRE0001", quantity=1, item_price=usd)],
        shipping_address=Address(name="Wire Test", line1="1 Main St", city="Austin", region="TX",
                                 postal_code="78701", country_code="US"))


def product_request(action: str) -> Any:
    return CommerceProductRequested.new(
        producer="catalog-sync", account_id="acct-1", marketplace_id="ATVPDKIKX0DER", sku="WIRE-1",
        action=action, commerce_sku="WIRE-1", asin="B0WIRE0002", name="Wire Tote",
        price=Money(amount=Decimal("19.99"), currency="USD"), quantity=3, website_ids=[1],
        attributes={"upc": "012345678905"})


async def drive_every_operation(client: Any) -> None:
    await client.search_products(page=1, page_size=3, filters=(("updated_at", "gt", "2000-01-01 00:00:00"),))
    await client.search_products(page=1, page_size=3, fields="items[sku],search_criteria,total_count")
    await client.get_product("24-MB01")
    await client.create_product(products_out.create_payload(product_request("create")))
    await client.update_product("WIRE-1", products_out.update_payload(product_request("update")))
    await client.currency()
    await client.websites()
    await client.store_groups()
    await client.store_configs()
    views = orders.store_views(await client.store_views())
    store = views["default"]
    request = order_request()
    customer = await client.create_customer(orders.customer_payload(request, store))
    await client.search_customers("wire@marketplace.amazon.com")
    found = orders.Customer(int(customer["id"]), "Wire", "Test")
    created = orders.created_order(await client.create_order(orders.order_payload(request, store, found,
                                                                                  client_options())))
    assert created.to_invoice
    await client.invoice_order(created.entity_id, orders.invoice_payload())
    await client.search_orders("ext_order_id", request.amazon_order_id)
    await client.list_orders(page=1, page_size=5, filters=(("state", "eq", "canceled"),))
    await client.search_shipments(page=1, page_size=5, filters=(("updated_at", "gt", "2000-01-01 00:00:00"),))


def client_options() -> Any:
    return OrderOptions(payment_method="checkmo", shipping_method="flatrate_flatrate",
                        shipping_description="Amazon shipping", default_country="US")


async def test_every_operation_the_gateway_sends_is_in_the_model_and_driven(kit: Any) -> None:
    """Each declared operation is sent once through the model check; each answer validates against the model."""
    app = magento_sim.create_app(magento_sim.SimConfig(token=kit.SIM_TOKEN))
    answers = Answers(httpx.ASGITransport(app=app))
    checked = kit.ModelCheck(answers)
    async with httpx.AsyncClient(transport=checked, base_url=kit.SIM_BASE) as http:
        client = CommerceClient(kit.STORE_URL, SecretStr(kit.SIM_TOKEN), http=http, rng=random.Random(1))
        await drive_every_operation(client)
    assert checked.problems == []
    driven = {f"{method} {path}" for method, path, _, _ in answers.seen}
    assert driven == OPERATIONS, f"declared, not driven: {sorted(OPERATIONS - driven)}; " \
                                 f"driven, not declared: {sorted(driven - OPERATIONS)}"
    for method, path, status, body in answers.seen:
        assert status < 400, (method, path, status, body)
        found = model.problems(model.response_validator(method, path, status), body)
        assert found == [], (method, path, found[:5])


async def test_an_undeclared_operation_is_refused_before_it_is_sent(kit: Any) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        client = CommerceClient(kit.STORE_URL, SecretStr(kit.SIM_TOKEN), http=http)
        with pytest.raises(ValueError, match=r"DELETE /V1/products/\{sku\}"):
            await client.send("DELETE", "DELETE /V1/products/{sku}", "/V1/products/24-MB01")
    assert sent == []
