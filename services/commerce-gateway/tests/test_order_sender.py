"""The order sender against a small Commerce stand-in and real PostgreSQL: one order per Amazon order, whatever
is repeated, lost or refused."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway import orders
from commerce_gateway.client import CommerceClient
from commerce_gateway.domain.retry import RetryPolicy
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
from servicekit import Tx

pytestmark = pytest.mark.integration

BASE = "http://commerce.test/rest/default"


class Commerce:
    """Orders, customers and store views as `POST /V1/orders` and friends keep them; faults on demand."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.customers: list[dict[str, Any]] = []
        self.lose_order_answers = 0  # commit, then the answer is lost (a read timeout)
        self.down = False
        self.unknown_skus: set[str] = set()
        self.posts = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503, json={"message": "Service temporarily unavailable."})
        path, q = request.url.path.removeprefix("/rest/default"), request.url.params
        if request.method == "GET" and path == "/V1/store/storeViews":
            return httpx.Response(200, json=[{"id": 0, "code": "admin", "website_id": 0},
                                             {"id": 1, "code": "default", "website_id": 1}])
        if request.method == "GET" and path in ("/V1/orders", "/V1/customers/search"):
            field = q["searchCriteria[filterGroups][0][filters][0][field]"]
            value = q["searchCriteria[filterGroups][0][filters][0][value]"]
            rows = self.orders if path == "/V1/orders" else self.customers
            items = [r for r in rows if str(r.get(field, "")).lower() == value.lower()]
            return httpx.Response(200, json={"items": items, "total_count": len(items)})
        if request.method == "POST" and path == "/V1/orders":
            self.posts += 1
            entity = json.loads(request.content)["entity"]
            missing = [i["sku"] for i in entity["items"] if i["sku"] in self.unknown_skus]
            if missing:
                return httpx.Response(400, json={"message": "The product \"%1\" doesn't exist.",
                                                 "parameters": [missing[0]]})
            n = len(self.orders) + 1
            self.orders.append({**entity, "entity_id": n, "increment_id": f"{n:09d}"})
            if self.lose_order_answers:
                self.lose_order_answers -= 1
                raise httpx.ReadTimeout("timed out", request=request)
            return httpx.Response(200, json=self.orders[-1])
        if request.method == "POST" and path == "/V1/customers":
            await asyncio.sleep(0.01)
            customer = json.loads(request.content)["customer"]
            if any(c["email"] == customer["email"] and c["website_id"] == customer["website_id"]
                   for c in self.customers):
                return httpx.Response(400, json={
                    "message": "A customer with the same email address already exists in an associated website."})
            self.customers.append({**customer, "id": len(self.customers) + 1})
            return httpx.Response(200, json=self.customers[-1])
        return httpx.Response(404, json={"message": "Request does not match any route."})


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def requested(order_id: str, **over: Any) -> CommerceOrderRequested:
    fields: dict[str, Any] = dict(
        producer="order-import", account_id="acct-1", marketplace_id="ATVPDKIKX0DER", amazon_order_id=order_id,
        store_code="default", commerce_status="processing", fulfillment=FulfillmentBy.MFN,
        lines=[OrderLine(order_item_id="1", sku="24-MB01", asin="B0TEST0001", quantity=1, item_price=usd("34.00"))],
        customer_email="buyer@marketplace.amazon.com",
        shipping_address=Address(name="Jane Doe", line1="1 Main St", city="Austin", region="TX",
                                 postal_code="78701", country_code="US", phone="555-0100"))
    fields.update(over)
    return CommerceOrderRequested.new(**fields)


@pytest.fixture
async def orders_pool(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    await pool.execute("TRUNCATE order_requests")
    yield pool


def sender(pool: asyncpg.Pool, commerce: Commerce, attempts: int = 3) -> orders.OrderSender:
    http = httpx.AsyncClient(transport=httpx.MockTransport(commerce))
    client = CommerceClient(BASE, SecretStr("order-sender-token-5c2e"), http=http, rng=random.Random(3),
                            retry=RetryPolicy(attempts, 0.001, 0.005))
    return orders.OrderSender(pool=pool, schema=pool_schema(), producer="commerce-gateway", client=client)


def pool_schema() -> str:
    from commerce_gateway.service import SERVICE
    from servicekit import db

    return db.schema_name(SERVICE)


async def consume(pool: asyncpg.Pool, *events: CommerceOrderRequested) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await orders.on_order_requests(Tx(conn=conn, service="commerce-gateway"), list(events))


async def answers(pool: asyncpg.Pool) -> list[Any]:
    rows = await pool.fetch("SELECT topic, payload FROM _outbox WHERE topic <> $1 ORDER BY id", topics.AUDIT.name)
    return [decode(bytes(r["payload"]), topics.TOPICS_BY_NAME[r["topic"]].event_type_names) for r in rows]


async def drain(s: orders.OrderSender) -> None:
    while await s.send_once():
        pass


async def test_a_repeated_request_makes_one_order_and_one_answer(orders_pool: asyncpg.Pool) -> None:
    commerce = Commerce()
    first = requested("111-0000000-0000001")
    again = requested("111-0000000-0000001")
    await consume(orders_pool, first, again)
    await drain(sender(orders_pool, commerce))
    await consume(orders_pool, requested("111-0000000-0000001"))  # after it was done
    await drain(sender(orders_pool, commerce))
    assert len(commerce.orders) == 1 and commerce.orders[0]["ext_order_id"] == "111-0000000-0000001"
    [answer] = await answers(orders_pool)
    assert isinstance(answer, CommerceOrderCreated) and answer.created
    assert (answer.commerce_order_id, answer.increment_id) == ("1", "000000001")
    assert answer.causation_id == first.event_id
    state = await orders.request_state(orders_pool, "111-0000000-0000001")
    assert state is not None and (state["status"], state["outcome"], state["duplicates"]) == ("done", "created", 2)


async def test_a_lost_answer_after_commerce_committed_is_found_not_repeated(orders_pool: asyncpg.Pool) -> None:
    commerce = Commerce()
    commerce.lose_order_answers = 1
    await consume(orders_pool, requested("111-0000000-0000002"))
    await drain(sender(orders_pool, commerce))
    assert len(commerce.orders) == 1 and commerce.posts == 1
    [answer] = await answers(orders_pool)
    assert isinstance(answer, CommerceOrderCreated) and answer.commerce_order_id == "1"
    state = await orders.request_state(orders_pool, "111-0000000-0000002")
    assert state is not None and state["outcome"] == "found"


async def test_a_sender_that_died_mid_request_leaves_no_second_order(orders_pool: asyncpg.Pool) -> None:
    commerce = Commerce()
    await consume(orders_pool, requested("111-0000000-0000003"))
    s = sender(orders_pool, commerce)
    # Claimed, the order made in Commerce, then the sender is gone before it records anything.
    await orders_pool.execute("UPDATE order_requests SET status = 'sending', claim = gen_random_uuid(), "
                              "claimed_until = now() - interval '1 second'")
    request = requested("111-0000000-0000003")
    await s.create(request)
    assert len(commerce.orders) == 1
    await drain(s)  # the expired claim is taken over; the order is found
    assert len(commerce.orders) == 1
    [answer] = await answers(orders_pool)
    assert isinstance(answer, CommerceOrderCreated) and answer.commerce_order_id == "1"


async def test_one_customer_for_two_orders_with_one_email(orders_pool: asyncpg.Pool) -> None:
    commerce = Commerce()
    await consume(orders_pool, requested("111-0000000-0000004", create_customer=True),
                  requested("111-0000000-0000005", create_customer=True, customer_email="BUYER@marketplace.amazon.com"),
                  requested("111-0000000-0000006"))
    await drain(sender(orders_pool, commerce))
    assert len(commerce.customers) == 1
    by_id = {o["ext_order_id"]: o for o in commerce.orders}
    assert by_id["111-0000000-0000004"]["customer_id"] == by_id["111-0000000-0000005"]["customer_id"] == 1
    assert by_id["111-0000000-0000006"]["customer_is_guest"] == 1 and "customer_id" not in by_id[
        "111-0000000-0000006"]
    state = await orders.request_state(orders_pool, "111-0000000-0000005")
    assert state is not None and state["customer_id"] == "1"


async def test_a_refusal_is_answered_with_commerces_message_and_replayed(orders_pool: asyncpg.Pool) -> None:
    commerce = Commerce()
    commerce.unknown_skus = {"24-MB01"}
    request = requested("111-0000000-0000007")
    await consume(orders_pool, request)
    s = sender(orders_pool, commerce)
    await drain(s)
    [answer] = await answers(orders_pool)
    assert isinstance(answer, CommerceOrderFailed)
    assert answer.message == 'The product "24-MB01" doesn\'t exist.' and answer.code == "400"
    assert answer.operation == "POST /V1/orders" and answer.request_event_id == request.event_id
    assert commerce.posts == 1  # a refusal is not retried
    state = await orders.request_state(orders_pool, "111-0000000-0000007")
    assert state is not None and (state["status"], state["outcome"]) == ("failed", "refused")

    commerce.unknown_skus = set()
    assert await orders.replay_failed(orders_pool, ["111-0000000-0000007"]) == 1
    await drain(s)
    assert len(commerce.orders) == 1
    assert isinstance((await answers(orders_pool))[-1], CommerceOrderCreated)


async def test_unreachable_commerce_is_a_communication_error_and_the_row_waits(orders_pool: asyncpg.Pool) -> None:
    commerce = Commerce()
    commerce.down = True
    request = requested("111-0000000-0000008")
    await consume(orders_pool, request, requested("111-0000000-0000009", lines=[]))
    s = sender(orders_pool, commerce)
    await drain(s)
    by_order = {getattr(a, "amazon_order_id", None) or "comm": a for a in await answers(orders_pool)}
    error = by_order["comm"]
    assert isinstance(error, CommunicationError) and error.system == "commerce"
    assert (error.code, error.attempts, error.request_ref) == ("503", 3, str(request.event_id))
    invalid = by_order["111-0000000-0000009"]
    assert isinstance(invalid, CommerceOrderFailed) and invalid.code == "InvalidOrderRequest"
    assert await drain(s) is None and not commerce.orders  # failed rows wait

    commerce.down = False
    assert await orders.replay_failed(orders_pool) == 2
    await drain(s)
    assert [o["ext_order_id"] for o in commerce.orders] == ["111-0000000-0000008"]


async def test_a_slow_sender_keeps_its_claim(orders_pool: asyncpg.Pool) -> None:
    commerce = Commerce()
    await consume(orders_pool, requested("111-0000000-0000010"))
    slow = sender(orders_pool, commerce)
    slow.lease = timedelta(seconds=0.3)
    gate = asyncio.Event()
    create = slow.create

    async def slow_create(request: CommerceOrderRequested) -> orders.Outcome:
        await gate.wait()
        return await create(request)
    slow.create = slow_create  # type: ignore[method-assign]
    working = asyncio.create_task(slow.send_once())
    await asyncio.sleep(0.8)  # well past the lease: renewed, so no other sender takes the row
    assert await sender(orders_pool, commerce).send_once() == 0
    gate.set()
    assert await working == 1
    assert len(commerce.orders) == 1 and len(await answers(orders_pool)) == 1
