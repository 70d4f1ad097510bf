"""Orders out against the Commerce simulator in process, the real broker and PostgreSQL: requests in on
commerce.order-requests.v1, orders in Commerce, one answer each on commerce.orders.v1."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway.service import Settings, build
from contracts import decode, topics
from contracts.events import (
    Address,
    CommerceOrderCreated,
    CommerceOrderFailed,
    CommerceOrderRequested,
    CommunicationError,
    FulfillmentBy,
    OrderLine,
)
from contracts.money import Money
from devstack.testing import auth_headers, eventually, publish, read_topic

pytestmark = pytest.mark.integration

TOKEN = "commerce-orders-token-81f0"
BASE = "http://commerce.test"


class AnswerLostAsTransportError(httpx.AsyncBaseTransport):
    """In process, a connection the simulator breaks mid-answer surfaces as the app's exception; over a socket it is
    a read error, which is what the gateway sees here too."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        except ConnectionError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc


@pytest.fixture
async def commerce() -> AsyncIterator[httpx.AsyncClient]:
    magento_sim = pytest.importorskip("magento_sim")
    app = magento_sim.create_app(magento_sim.SimConfig(token=TOKEN))
    async with httpx.AsyncClient(transport=AnswerLostAsTransportError(httpx.ASGITransport(app=app)),
                                 base_url=BASE) as http:
        yield http


@pytest.fixture
async def clean(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("TRUNCATE order_requests")
    return pool


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def requested(order_id: str, sku: str = "24-MB01", **over: Any) -> CommerceOrderRequested:
    fields: dict[str, Any] = dict(
        producer="order-import", account_id="acct-orders", marketplace_id="ATVPDKIKX0DER", amazon_order_id=order_id,
        store_code="default", commerce_status="processing", fulfillment=FulfillmentBy.MFN,
        lines=[OrderLine(order_item_id="1", sku=sku, asin="B0TEST0001", quantity=1, item_price=usd("34.00"),
                         item_tax=usd("2.81"))],
        customer_email=f"{order_id}@marketplace.amazon.com",
        shipping_address=Address(name="Jane Doe", line1="1 Main St", city="Austin", region="TX",
                                 postal_code="78701", country_code="US", phone="555-0100"))
    fields.update(over)
    return CommerceOrderRequested.new(**fields)


async def sim_orders(http: httpx.AsyncClient, amazon_order_id: str) -> list[dict[str, Any]]:
    r = await http.get(f"{BASE}/rest/default/V1/orders", headers={"Authorization": f"Bearer {TOKEN}"}, params={
        "searchCriteria[filterGroups][0][filters][0][field]": "ext_order_id",
        "searchCriteria[filterGroups][0][filters][0][value]": amazon_order_id})
    return list(r.json()["items"])


async def sim_customers(http: httpx.AsyncClient, email: str) -> list[dict[str, Any]]:
    r = await http.get(f"{BASE}/rest/default/V1/customers/search", headers={"Authorization": f"Bearer {TOKEN}"},
                       params={"searchCriteria[filterGroups][0][filters][0][field]": "email",
                               "searchCriteria[filterGroups][0][filters][0][value]": email})
    return list(r.json()["items"])


async def faults(http: httpx.AsyncClient, **settings: Any) -> None:
    r = await http.post(f"{BASE}/_sim/faults", json={"seed": 7, "operations": ["PostV1Orders"], **settings})
    assert r.status_code == 200, r.text


async def answers(bootstrap: str, wanted: dict[str, int]) -> dict[str, list[Any]]:
    """The answers on commerce.orders.v1 to these Amazon orders, once each has at least as many as wanted."""
    found: dict[str, list[Any]] = {}

    def enough(records: list[Any]) -> bool:
        found.clear()
        for record in records:
            event = decode(record.value, topics.COMMERCE_ORDERS.event_type_names)
            if getattr(event, "amazon_order_id", None) in wanted:
                found.setdefault(event.amazon_order_id, []).append(event)  # type: ignore[attr-defined]
        return all(len(found.get(o, [])) >= n for o, n in wanted.items())

    await read_topic(bootstrap, topics.COMMERCE_ORDERS.name, until=enough, timeout=20)
    return dict(found)


async def test_orders_out_one_order_per_amazon_order_with_one_answer(
        commerce: httpx.AsyncClient, topics_created: str, database_url: str, clean: asyncpg.Pool) -> None:
    run = uuid.uuid4().hex[:8]
    twice, lost, first, second, refused, down, fba = (
        f"{run}-{n}" for n in ("twice", "lost", "c1", "c2", "bad", "down", "fba"))
    service = build(Settings(
        kafka_bootstrap_servers=topics_created, database_url=database_url, commerce_base_url=f"{BASE}/rest/default",
        commerce_token=SecretStr(TOKEN), catalog_sync_enabled=False, commerce_max_attempts=3,
        commerce_retry_base_delay_s=0.01, commerce_retry_max_delay_s=0.05, order_idle_s=0.05), http=commerce)
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), base_url="http://gw",
                                     transport=httpx.ASGITransport(app=service.asgi())) as api:
            async def state(order: str) -> dict[str, Any]:
                r = await api.get(f"/orders/{order}", headers=auth_headers("read"))
                return dict(r.json()) if r.status_code == 200 else {}

            async def settled(*orders: str) -> bool:
                return all([(await state(o)).get("status") in ("done", "failed") for o in orders])

            # A request that comes twice, and one whose answer Commerce loses after it committed the order (and the
            # answer to its invoice too).
            email = f"{run}@marketplace.amazon.com"
            await faults(commerce, timeout_after_commit_rate=1.0, operations=["PostV1Orders", "PostV1OrderOrderIdInvoice"])
            await publish(topics_created, [requested(twice), requested(twice), requested(lost)])
            await eventually(lambda: settled(twice, lost), timeout=15, what="first orders")
            await faults(commerce)
            # Two orders of one buyer who wants an account; an order Commerce refuses.
            await publish(topics_created, [requested(first, customer_email=email, create_customer=True),
                                           requested(second, customer_email=email.upper(), create_customer=True),
                                           requested(refused, sku="NO-SUCH-SKU"),
                                           requested(fba, fulfillment=FulfillmentBy.AFN, commerce_status="complete",
                                                     increment_id=fba)])
            await eventually(lambda: settled(first, second, refused, fba), timeout=15, what="customer orders")
            # Commerce failing for good: a CommunicationError, the request kept failed until replayed.
            await faults(commerce, error_rate=1.0, error_statuses=[503])
            request_down = requested(down)
            await publish(topics_created, [request_down])
            await eventually(lambda: settled(down), timeout=15, what="unreachable order")
            assert (await state(down))["outcome"] == "unreachable"
            await faults(commerce)
            assert (await api.post("/replay/orders", json={"amazon_order_ids": [down]},
                                   headers=auth_headers("read"))).status_code == 403
            r = await api.post("/replay/orders", json={"amazon_order_ids": [down]})
            assert r.status_code == 200 and r.json() == {"replayed": 1}, r.text
            await eventually(lambda: settled(down), timeout=15, what="replayed order")

            for order in (twice, lost, first, second, down):
                assert len(await sim_orders(commerce, order)) == 1, order
            assert await sim_orders(commerce, refused) == []
            [customer] = await sim_customers(commerce, email)
            made = {o: (await sim_orders(commerce, o))[0] for o in (first, second)}
            assert made[first]["customer_id"] == made[second]["customer_id"] == customer["id"]
            assert (await sim_orders(commerce, twice))[0]["customer_is_guest"] == 1
            assert (await state(twice))["duplicates"] == 1 and (await state(lost))["outcome"] == "found"
            # Amazon's number as the order number; fulfilled by Amazon: created complete, for the record.
            [record] = await sim_orders(commerce, fba)
            assert (record["increment_id"], record["state"], record["status"]) == (fba, "complete", "complete")
            assert record["total_invoiced"] == 0  # for the record: never invoiced
            # Merchant-fulfilled: invoiced on import (Amazon took the payment), once even when the answer to the
            # invoice was lost; shipping every item in Commerce then completes the order.
            for order in (twice, lost, first, second, down):
                [made] = await sim_orders(commerce, order)
                assert (made["state"], made["total_invoiced"]) == ("processing", made["grand_total"]), order
                assert (await state(order))["last_error"] is None, order
            r = await commerce.post(f"{BASE}/_sim/orders/{(await sim_orders(commerce, twice))[0]['entity_id']}/ship",
                                    json={})
            assert r.status_code == 200, r.text
            assert (await sim_orders(commerce, twice))[0]["state"] == "complete"

        got = await answers(topics_created, {twice: 1, lost: 1, first: 1, second: 1, refused: 1, down: 1, fba: 1})
        for order in (twice, lost, first, second, down, fba):
            assert [type(e) for e in got[order]] == [CommerceOrderCreated], order
            [created] = got[order]
            assert created.created and created.commerce_order_id == str((await sim_orders(commerce, order))[0][
                "entity_id"])
        [failure] = got[refused]
        assert isinstance(failure, CommerceOrderFailed) and failure.operation == "POST /V1/orders"
        assert failure.message == "The product that was requested doesn't exist. Verify the product and try again."
        errors = await read_topic(
            topics_created, topics.COMMUNICATION_ERRORS.name, timeout=20,
            until=lambda rs: any(decode(x.value, topics.COMMUNICATION_ERRORS.event_type_names).request_ref
                                 == str(request_down.event_id) for x in rs))  # type: ignore[attr-defined]
        [error] = [e for e in (decode(x.value, topics.COMMUNICATION_ERRORS.event_type_names) for x in errors)
                   if isinstance(e, CommunicationError) and e.request_ref == str(request_down.event_id)]
        assert (error.system, error.operation, error.code, error.attempts) == ("commerce", "POST /V1/orders", "503", 3)
    finally:
        await service.stop()
