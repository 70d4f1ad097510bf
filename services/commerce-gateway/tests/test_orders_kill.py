"""Orders out through a crash: magento-sim and commerce-gateway as OS processes, the real broker and PostgreSQL.

Commerce answers order creations slowly, so several are in flight when the gateway is killed with SIGKILL; it is
started again and works through what is left. Every Amazon order then exists once in Commerce and has one
CommerceOrderCreated on commerce.orders.v1. Consumers drop copies of an event by its `event_id` (the outbox relay
re-sends what it sent but did not delete before a crash), so a copy with the same `event_id` is the same answer; a
second answer with another `event_id`, or a second order, would be a duplicate. In the second run Commerce also
loses answers after it committed (the gateway's call times out), which the gateway resolves by looking the order up.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from contracts import decode, topics
from contracts.events import Address, CommerceOrderCreated, CommerceOrderRequested, FulfillmentBy, OrderLine
from contracts.money import Money
from devstack.infra import free_port
from devstack.processes import ProcessSpec, Supervisor, service_spec, wait_ready
from devstack.testing import auth_headers, eventually, publish, read_topic

pytestmark = pytest.mark.integration

TOKEN = "commerce-kill-token-5b2e"
ORDERS = 24
SKUS = ["24-MB01", "24-MB04", "24-WB04", "24-UG06", "24-WG084"]


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def requested(order_id: str, n: int) -> CommerceOrderRequested:
    """An Amazon order; every third buyer wants a customer account."""
    return CommerceOrderRequested.new(
        producer="order-import", account_id="acct-kill", marketplace_id="ATVPDKIKX0DER", amazon_order_id=order_id,
        store_code="default", commerce_status="processing", fulfillment=FulfillmentBy.MFN,
        lines=[OrderLine(order_item_id=f"{n}-1", sku=SKUS[n % len(SKUS)], asin="B0TEST0001", quantity=1 + n % 2,
                         item_price=usd(f"{20 + n}.00"), item_tax=usd("1.50"))],
        customer_email=f"{order_id}@marketplace.amazon.com", create_customer=n % 3 == 0,
        shipping_address=Address(name="Jane Doe", line1="1 Main St", city="Austin", region="TX",
                                 postal_code="78701", country_code="US", phone="555-0100"))


@pytest.fixture
def commerce() -> Iterator[str]:
    """magento-sim as a process, with its Luma catalogue; its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "magento_sim", "--port", str(port), "--token", TOKEN, "--seed", "11"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz", timeout=60, proc=proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def in_flight(sim: httpx.AsyncClient) -> tuple[int, int]:
    """(order creations Commerce has begun and not answered, orders it holds)."""
    stats = (await sim.get("/_sim/stats")).json()
    creations = stats["operations"].get("PostV1Orders", {})
    answered = sum(n for status, n in creations.items() if status != "calls")
    return creations.get("calls", 0) - answered, stats["orders"]


async def answers(bootstrap: str, wanted: set[str]) -> dict[str, list[Any]]:
    """Every answer on commerce.orders.v1 to these Amazon orders, once each has one."""
    found: dict[str, list[Any]] = {}

    def complete(records: list[Any]) -> bool:
        found.clear()
        for record in records:
            event = decode(record.value, topics.COMMERCE_ORDERS.event_type_names)
            if getattr(event, "amazon_order_id", None) in wanted:
                found.setdefault(event.amazon_order_id, []).append(event)  # type: ignore[attr-defined]
        return set(found) == wanted

    await read_topic(bootstrap, topics.COMMERCE_ORDERS.name, until=complete, timeout=60)
    return dict(found)


@pytest.mark.parametrize("answers_lost", [False, True], ids=["slow", "slow-and-answers-lost"])
async def test_each_amazon_order_once_in_commerce_through_a_gateway_sigkill(
        commerce: str, topics_created: str, database_url: str, db: Any, tmp_path: Any, answers_lost: bool) -> None:
    async with httpx.AsyncClient(base_url=commerce, timeout=10) as sim:
        await crash_and_check(sim, topics_created, database_url, db, tmp_path, answers_lost)


async def crash_and_check(sim: httpx.AsyncClient, topics_created: str, database_url: str, db: Any, tmp_path: Any,
                          answers_lost: bool) -> None:
    run = uuid.uuid4().hex[:8]
    orders = [f"{run}-{n:03d}" for n in range(ORDERS)]
    # Creations take 1.5 s, so the sender's four at a time are in flight for most of the batch. With lost answers,
    # half of the orders Commerce creates are answered only after the gateway's 2 s call timeout.
    faults: dict[str, Any] = {"seed": 3, "operations": ["PostV1Orders"], "latency_ms": 1500, "latency_rate": 1.0}
    if answers_lost:
        faults |= {"timeout_after_commit_rate": 0.5, "timeout_mode": "delay", "timeout_delay_ms": 4000}
    assert (await sim.post("/_sim/faults", json=faults)).status_code == 200

    env = {"COMMERCE_BASE_URL": str(sim.base_url.join("/rest/default")), "COMMERCE_TOKEN": TOKEN,
           "CATALOG_SYNC_ENABLED": "false", "COMMERCE_TIMEOUT_S": "2", "COMMERCE_MAX_ATTEMPTS": "8",
           "COMMERCE_RETRY_BASE_DELAY_S": "0.1", "COMMERCE_RETRY_MAX_DELAY_S": "1", "ORDER_CONCURRENCY": "4",
           "ORDER_BATCH_SIZE": "8", "ORDER_IDLE_S": "0.1",
           # a killed sender's claim runs out after this, and the gateway started again takes its requests over
           "ORDER_LEASE_S": "3"}
    sup = Supervisor(tmp_path)
    spec: ProcessSpec = service_spec("commerce-gateway", bootstrap=topics_created, database_url=database_url,
                                     port=free_port(), extra_env=env)
    gateway = sup.start(spec)
    base = (spec.ready_url or "").removesuffix("/readyz")
    try:
        wait_ready(spec.ready_url or "", timeout=60, proc=gateway)
        await publish(topics_created, [requested(order, n) for n, order in enumerate(orders)])

        # SIGKILL while Commerce is working on creations the gateway sent
        deadline = time.monotonic() + 60
        while True:
            flying, made = await in_flight(sim)
            assert time.monotonic() < deadline, f"no creation in flight: {flying}, {made} orders"
            if flying >= 1 and made >= 1:
                break
            await asyncio.sleep(0.02)
        gateway.send_signal(signal.SIGKILL)
        assert gateway.wait(timeout=10) == -signal.SIGKILL
        assert 0 < made < ORDERS, made
        answered_at_kill = await db.fetchval(
            "SELECT count(*) FROM commerce_gateway.order_requests WHERE amazon_order_id LIKE $1 AND status = 'done'",
            f"{run}-%")
        assert answered_at_kill < ORDERS

        gateway = sup.start(spec)
        wait_ready(spec.ready_url or "", timeout=60, proc=gateway)
        async with httpx.AsyncClient(base_url=base, headers=auth_headers("read"), timeout=10) as api:
            async def state(order: str) -> dict[str, Any]:
                return dict((await api.get(f"/orders/{order}")).json())

            async def all_done() -> bool:
                return all([(await state(order)).get("status") == "done" for order in orders])

            await eventually(all_done, timeout=120, what="every order request answered")
            states = {order: await state(order) for order in orders}
        got = await answers(topics_created, set(orders))
    finally:
        sup.stop_all()

    # each Amazon order exists exactly once in Commerce, and nothing else was created
    held = {order: (await sim.get("/_sim/orders", params={"ext_order_id": order})).json() for order in orders}
    assert {order: len(found) for order, found in held.items()} == dict.fromkeys(orders, 1)
    stats = (await sim.get("/_sim/stats")).json()
    assert stats["orders"] == ORDERS
    # one answer each: CommerceOrderCreated naming that order (copies only with the same event_id)
    for order in orders:
        assert {type(e) for e in got[order]} == {CommerceOrderCreated}, (order, got[order])
        assert len({e.event_id for e in got[order]}) == 1, (order, got[order])
        [entity_id] = {e.commerce_order_id for e in got[order]}
        assert entity_id == str(held[order][0]["entity_id"]) == str(states[order]["commerce_order_id"])
    # a buyer who wanted an account has exactly one, which the order names; the others are guests
    for n, order in enumerate(orders):
        [placed] = held[order]
        if n % 3 == 0:
            email = f"{order}@marketplace.amazon.com"
            found = (await sim.get("/rest/default/V1/customers/search", headers={"Authorization": f"Bearer {TOKEN}"},
                                   params={"searchCriteria[filterGroups][0][filters][0][field]": "email",
                                           "searchCriteria[filterGroups][0][filters][0][value]": email})).json()["items"]
            assert [c["id"] for c in found] == [placed["customer_id"]], order
        else:
            assert placed["customer_is_guest"] == 1, order
    # requests the killed gateway had claimed were taken over by the one started again
    assert any(state["attempts"] >= 2 for state in states.values())
    if answers_lost:
        assert stats["faults"].get("lost_answer", 0) >= 1
        assert any(s["outcome"] == "found" for s in states.values())
