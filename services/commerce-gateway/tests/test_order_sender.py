"""The order sender against magento-sim in process and real PostgreSQL: one order per Amazon order, whatever
is repeated, lost or refused. Every request the sender makes is checked against the published 2.4.8 model."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

import magento_sim
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

TOKEN = "order-sender-token-5c2e"
SIM = "http://commerce.test"
BASE = f"{SIM}/rest/default"
OUT_OF_STOCK = "Not all of your products are available in the requested quantity."


class AnswerLostAsTransportError(httpx.AsyncBaseTransport):
    """In process, a connection the simulator breaks mid-answer surfaces as the app's exception; over a socket it is
    a read error, which is what the sender sees here too."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
            await response.aread()
            return response
        except ConnectionError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc


class Commerce:
    """magento-sim (the Luma catalogue, stock 100 a product) behind a switch that takes it down, and what a test
    looks at: its orders, customers and calls."""

    def __init__(self, kit: Any) -> None:
        app = magento_sim.create_app(magento_sim.SimConfig(token=TOKEN))
        self.faulty = kit.Faulty(AnswerLostAsTransportError(httpx.ASGITransport(app=app)))
        self.checked = kit.ModelCheck(self.faulty)
        self.http = httpx.AsyncClient(transport=self.checked, base_url=SIM)

    @property
    def down(self) -> bool:
        return bool(self.faulty.down)

    @down.setter
    def down(self, value: bool) -> None:
        self.faulty.down = value

    async def sim(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    async def lose_order_answers(self) -> None:
        """Every order is created and its answer lost (the connection breaks mid-answer)."""
        await self.sim("POST", "/_sim/faults", json={"operations": ["PostV1Orders"], "timeout_after_commit_rate": 1.0})

    async def orders(self) -> list[dict[str, Any]]:
        return list(await self.sim("GET", "/_sim/orders"))

    async def customers(self) -> int:
        return int((await self.sim("GET", "/_sim/stats"))["customers"])

    async def posts(self) -> int:
        return int((await self.sim("GET", "/_sim/stats"))["operations"].get("PostV1Orders", {}).get("calls", 0))


@pytest.fixture
async def commerce(kit: Any) -> AsyncIterator[Commerce]:
    c = Commerce(kit)
    async with c.http:
        yield c
    assert not c.checked.problems, "requests the published model refuses:\n" + "\n".join(
        dict.fromkeys(c.checked.problems))


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
    client = CommerceClient(BASE, SecretStr(TOKEN), http=commerce.http, rng=random.Random(3),
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


async def test_a_repeated_request_makes_one_order_and_one_answer(orders_pool: asyncpg.Pool,
                                                                  commerce: Commerce) -> None:
    first = requested("111-0000000-0000001")
    again = requested("111-0000000-0000001")
    await consume(orders_pool, first, again)
    await drain(sender(orders_pool, commerce))
    await consume(orders_pool, requested("111-0000000-0000001"))  # after it was done
    await drain(sender(orders_pool, commerce))
    [made] = await commerce.orders()
    assert made["ext_order_id"] == "111-0000000-0000001" and await commerce.posts() == 1
    [answer] = await answers(orders_pool)
    assert isinstance(answer, CommerceOrderCreated) and answer.created
    assert (answer.commerce_order_id, answer.increment_id) == (str(made["entity_id"]), made["increment_id"])
    assert answer.causation_id == first.event_id
    state = await orders.request_state(orders_pool, "111-0000000-0000001")
    assert state is not None and (state["status"], state["outcome"], state["duplicates"]) == ("done", "created", 2)


async def test_a_lost_answer_after_commerce_committed_is_found_not_repeated(orders_pool: asyncpg.Pool,
                                                                           commerce: Commerce) -> None:
    await commerce.lose_order_answers()
    await consume(orders_pool, requested("111-0000000-0000002"))
    await drain(sender(orders_pool, commerce))
    [made] = await commerce.orders()
    assert await commerce.posts() == 1
    [answer] = await answers(orders_pool)
    assert isinstance(answer, CommerceOrderCreated) and answer.commerce_order_id == str(made["entity_id"])
    state = await orders.request_state(orders_pool, "111-0000000-0000002")
    assert state is not None and state["outcome"] == "found"


async def test_a_sender_that_died_mid_request_leaves_no_second_order(orders_pool: asyncpg.Pool,
                                                                    commerce: Commerce) -> None:
    await consume(orders_pool, requested("111-0000000-0000003"))
    s = sender(orders_pool, commerce)
    # Claimed, the order made in Commerce, then the sender is gone before it records anything.
    await orders_pool.execute("UPDATE order_requests SET status = 'sending', claim = gen_random_uuid(), "
                              "claimed_until = now() - interval '1 second'")
    request = requested("111-0000000-0000003")
    await s.create(request)
    [made] = await commerce.orders()
    await drain(s)  # the expired claim is taken over; the order is found
    assert len(await commerce.orders()) == 1 and await commerce.posts() == 1
    [answer] = await answers(orders_pool)
    assert isinstance(answer, CommerceOrderCreated) and answer.commerce_order_id == str(made["entity_id"])


async def test_one_customer_for_two_orders_with_one_email(orders_pool: asyncpg.Pool, commerce: Commerce) -> None:
    await consume(orders_pool, requested("111-0000000-0000004", create_customer=True),
                  requested("111-0000000-0000005", create_customer=True, customer_email="BUYER@marketplace.amazon.com"),
                  requested("111-0000000-0000006"))
    await drain(sender(orders_pool, commerce))
    assert await commerce.customers() == 1
    by_id = {o["ext_order_id"]: o for o in await commerce.orders()}
    customer_id = by_id["111-0000000-0000004"]["customer_id"]
    assert customer_id and by_id["111-0000000-0000005"]["customer_id"] == customer_id
    guest = by_id["111-0000000-0000006"]
    assert guest["customer_is_guest"] == 1 and not guest.get("customer_id")
    state = await orders.request_state(orders_pool, "111-0000000-0000005")
    assert state is not None and state["customer_id"] == str(customer_id)


async def test_a_refusal_is_answered_with_commerces_message_and_replayed(orders_pool: asyncpg.Pool,
                                                                        commerce: Commerce) -> None:
    # more than Commerce has in stock (100)
    request = requested("111-0000000-0000007", lines=[OrderLine(
        order_item_id="1", sku="24-MB01", asin="B0TEST0001", quantity=150, item_price=usd("5100.00"))])
    await consume(orders_pool, request)
    s = sender(orders_pool, commerce)
    await drain(s)
    [answer] = await answers(orders_pool)
    assert isinstance(answer, CommerceOrderFailed)
    assert answer.message == OUT_OF_STOCK and answer.code == "400"
    assert answer.operation == "POST /V1/orders" and answer.request_event_id == request.event_id
    assert await commerce.posts() == 1  # a refusal is not retried
    state = await orders.request_state(orders_pool, "111-0000000-0000007")
    assert state is not None and (state["status"], state["outcome"]) == ("failed", "refused")

    await commerce.sim("PATCH", "/_sim/products/24-MB01", json={"qty": 500})  # the warehouse restocks
    assert await orders.replay_failed(orders_pool, ["111-0000000-0000007"]) == 1
    await drain(s)
    [made] = await commerce.orders()
    assert made["ext_order_id"] == "111-0000000-0000007"
    assert isinstance((await answers(orders_pool))[-1], CommerceOrderCreated)


async def test_unreachable_commerce_is_a_communication_error_and_the_row_waits(orders_pool: asyncpg.Pool,
                                                                              commerce: Commerce) -> None:
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

    commerce.down = False
    assert await s.send_once() == 0 and await commerce.orders() == []  # failed rows wait for a replay
    assert await orders.replay_failed(orders_pool) == 2
    await drain(s)
    assert [o["ext_order_id"] for o in await commerce.orders()] == ["111-0000000-0000008"]


async def test_a_slow_sender_keeps_its_claim(orders_pool: asyncpg.Pool, commerce: Commerce) -> None:
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
    assert len(await commerce.orders()) == 1 and len(await answers(orders_pool)) == 1
