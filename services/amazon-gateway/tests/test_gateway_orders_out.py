"""Shipment confirmations and cancellations in, Amazon (the simulator) changed, OrderActionResult or
CommunicationError out. Real broker and PostgreSQL; Amazon is the in-process simulator."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from contracts import decode, encode, topics
from contracts.events import CommunicationError, OrderActionResult, OrderCancelRequested, ShipmentConfirmRequested
from devstack.testing import auth_headers, publish, read_topic
from servicekit.http import protect

pytestmark = pytest.mark.integration


async def start(gateway_factory: Any, kit: Any, **settings: Any) -> tuple[Any, str]:
    acct = f"acct-actions-{uuid.uuid4().hex[:8]}"
    gateway = await gateway_factory([kit.gateway_account(account_id=acct)], **(
        {"order_poll_enabled": False, "order_action_idle_s": 0.05, "order_feed_check_s": 0.2} | settings))
    return gateway, acct


async def place(gateway: Any, kit: Any, quantity: int = 2, status: str | None = None) -> tuple[str, dict[str, int]]:
    sku = kit.new_skus(1)[0]
    await kit.seed_listing(gateway.sim, sku, quantity=5)
    r = await gateway.sim.post("/_sim/orders", json={"sellerId": kit.SELLER, "lines": [{"sku": sku, "quantity": quantity}]})
    assert r.status_code == 201, r.text
    order = r.json()
    if status:
        await gateway.sim.post(f"/_sim/orders/{order['AmazonOrderId']}/status", json={"orderStatus": status})
    return order["AmazonOrderId"], {i["OrderItemId"]: i["QuantityOrdered"] for i in order["Items"]}


def confirm(acct: str, kit: Any, order_id: str, items: dict[str, int]) -> ShipmentConfirmRequested:
    return ShipmentConfirmRequested.new(
        producer="test", account_id=acct, marketplace_id=kit.US, amazon_order_id=order_id, carrier_code="UPS",
        tracking_number=f"1Z{uuid.uuid4().hex[:12].upper()}", ship_date=datetime.now(UTC), items=items)


def cancel(acct: str, kit: Any, order_id: str, reason: str = "NoInventory") -> OrderCancelRequested:
    return OrderCancelRequested.new(producer="test", account_id=acct, marketplace_id=kit.US,
                                    amazon_order_id=order_id, reason_code=reason)


async def results_for(gateway: Any, requests: list[Any], timeout: float = 90) -> dict[uuid.UUID, OrderActionResult]:
    wanted = {r.event_id for r in requests}

    def mine(records: list[Any]) -> list[OrderActionResult]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, OrderActionResult) and e.request_event_id in wanted]

    found = mine(await read_topic(gateway.bootstrap, topics.ORDER_ACTION_RESULTS.name, timeout=timeout,
                                  until=lambda rs: {e.request_event_id for e in mine(rs)} == wanted))
    assert Counter(e.request_event_id for e in found) == Counter(wanted)  # exactly one answer each
    return {e.request_event_id: e for e in found}


async def order_state(gateway: Any, order_id: str) -> dict[str, Any]:
    return (await gateway.sim.get(f"/_sim/orders/{order_id}")).json()


async def test_shipment_confirmed_end_to_end(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit)
    order_id, items = await place(gateway, kit)
    request = confirm(acct, kit, order_id, items)
    await publish(gateway.bootstrap, [request])
    result = (await results_for(gateway, [request]))[request.event_id]
    assert result.accepted and result.action == "confirm_shipment" and result.issues == []
    assert result.amazon_order_id == order_id and result.correlation_id == request.correlation_id
    accepted = REGISTRY.get_sample_value("saleschannel_amazon_order_actions_total", {
        "service": "amazon-gateway", "action": "confirm_shipment", "outcome": "accepted"})
    assert accepted is not None and accepted >= 1
    state = await order_state(gateway, order_id)
    assert state["OrderStatus"] == "Shipped"
    assert [(s["trackingNumber"], s["carrierCode"], s["orderItems"]) for s in state["Shipments"]] == [
        (request.tracking_number, "UPS", items)]


async def test_cancellation_end_to_end_through_one_feed(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit)
    orders = [await place(gateway, kit) for _ in range(3)]
    requests = [cancel(acct, kit, oid, reason) for (oid, _), reason in
                zip(orders, ["NoInventory", "BuyerCanceled", "ShippingAddressUndeliverable"], strict=True)]
    await publish(gateway.bootstrap, requests)
    results = await results_for(gateway, requests)
    assert all(r.accepted and r.action == "cancel" and r.feed_id for r in results.values())
    for request, (oid, _) in zip(requests, orders, strict=True):
        state = await order_state(gateway, oid)
        assert state["OrderStatus"] == "Canceled" and state["CancelReason"] == request.reason_code
    cancellations = (await gateway.sim.get("/_sim/orders/cancellations")).json()["cancellations"]
    mine = [c for c in cancellations if c["amazonOrderId"] in {oid for oid, _ in orders}]
    assert len(mine) == 3 and {c["feedId"] for c in mine} <= {r.feed_id for r in results.values()}
    feeds = (await gateway.sim.get("/_sim/stats")).json()["operations"]["createFeed"]
    assert feeds["202"] <= 3  # one feed per batch of pending cancellations, not one call per order


async def test_amazon_refusals_are_rejected_results_with_its_issues(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit)
    canceled, canceled_items = await place(gateway, kit, status="Canceled")
    shipped, _ = await place(gateway, kit, status="Shipped")
    ship_canceled = confirm(acct, kit, canceled, canceled_items)
    cancel_shipped = cancel(acct, kit, shipped)
    unknown = cancel(acct, kit, "999-0000000-0000000")
    await publish(gateway.bootstrap, [ship_canceled, cancel_shipped, unknown])
    results = await results_for(gateway, [ship_canceled, cancel_shipped, unknown])

    refused = results[ship_canceled.event_id]
    assert not refused.accepted and refused.feed_id is None
    assert refused.issues[0].code == "InvalidInput" and "canceled" in refused.issues[0].message
    too_late = results[cancel_shipped.event_id]
    assert not too_late.accepted and too_late.feed_id
    assert too_late.issues[0].severity == "ERROR" and "shipped" in too_late.issues[0].message
    assert not results[unknown.event_id].accepted and results[unknown.event_id].issues
    assert (await order_state(gateway, shipped))["OrderStatus"] == "Shipped"
    assert (await order_state(gateway, canceled))["Shipments"] == []


async def test_with_injected_faults_every_action_is_applied_exactly_once(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, amazon_max_attempts=10)
    await gateway.sim.post("/_sim/faults", json={"seed": 9, "error_rate": 0.2})
    to_ship = [await place(gateway, kit) for _ in range(6)]
    to_cancel = [await place(gateway, kit) for _ in range(6)]
    requests: list[Any] = [confirm(acct, kit, oid, items) for oid, items in to_ship]
    requests += [cancel(acct, kit, oid) for oid, _ in to_cancel]
    await publish(gateway.bootstrap, requests)
    results = await results_for(gateway, requests, timeout=150)
    assert all(r.accepted for r in results.values()), [r.issues for r in results.values() if not r.accepted]
    for oid, items in to_ship:
        state = await order_state(gateway, oid)
        assert state["OrderStatus"] == "Shipped" and [s["orderItems"] for s in state["Shipments"]] == [items]
    cancellations = (await gateway.sim.get("/_sim/orders/cancellations")).json()["cancellations"]
    assert Counter(c["amazonOrderId"] for c in cancellations) == Counter(oid for oid, _ in to_cancel)
    stats = (await gateway.sim.get("/_sim/stats")).json()
    assert stats["faults"]["errors"] > 0


async def test_calls_failing_for_good_are_reported_kept_and_replayed(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit, amazon_max_attempts=2)
    await gateway.sim.post("/_sim/faults", json={"error_rate": 1.0, "operations": ["confirmShipment", "createFeed"]})
    ship_id, items = await place(gateway, kit)
    cancel_id, _ = await place(gateway, kit)
    requests = [confirm(acct, kit, ship_id, items), cancel(acct, kit, cancel_id)]
    await publish(gateway.bootstrap, requests)
    refs = {str(r.event_id) for r in requests}

    def mine(records: list[Any]) -> list[CommunicationError]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, CommunicationError) and e.request_ref in refs]

    errors = mine(await read_topic(gateway.bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=60,
                                   until=lambda rs: {e.request_ref for e in mine(rs)} == refs))
    assert {e.operation for e in errors} == {"confirmShipment", "createFeed"}
    assert all(e.attempts == 2 and e.account_id == acct and e.code in ("InternalFailure", "ServiceUnavailable")
               for e in errors)
    schema = gateway.service.schema
    rows = dict(await gateway.db.fetch(f"SELECT request_id, status FROM {schema}.order_actions "
                                       "WHERE account_id = $1", acct))
    assert rows == {r.event_id: "failed" for r in requests}
    assert (await order_state(gateway, ship_id))["OrderStatus"] == "Unshipped"

    await gateway.sim.delete("/_sim/faults")
    admin = protect(FastAPI(), gateway.service.settings)
    for router in gateway.service.routers:
        admin.include_router(router)
    async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(app=admin), base_url="http://gw") as http:
        replayed = await http.post("/replay/orders", params={"account_id": acct})
    assert replayed.json() == {"replayed": 2}
    results = await results_for(gateway, requests)
    assert all(r.accepted for r in results.values())
    assert (await order_state(gateway, ship_id))["OrderStatus"] == "Shipped"
    assert (await order_state(gateway, cancel_id))["OrderStatus"] == "Canceled"
    assert set(dict(await gateway.db.fetch(f"SELECT request_id, status FROM {schema}.order_actions "
                                           "WHERE account_id = $1", acct)).values()) == {"done"}


async def test_actions_claimed_by_a_sender_that_died_are_taken_over(gateway_factory: Any, kit: Any) -> None:
    gateway, acct = await start(gateway_factory, kit)
    order_id, items = await place(gateway, kit)
    request = confirm(acct, kit, order_id, items)
    # A sender claimed the request, then died before recording anything: its claim has run out.
    await gateway.db.execute(
        f"INSERT INTO {gateway.service.schema}.order_actions (request_id, action, account_id, marketplace_id, "
        "amazon_order_id, request, status, claim, claimed_until) "
        "VALUES ($1, 'confirm_shipment', $2, $3, $4, $5, 'sending', $6, now() - interval '1 second')",
        request.event_id, acct, kit.US, order_id, encode(request), uuid.uuid4())
    result = (await results_for(gateway, [request]))[request.event_id]
    assert result.accepted
    state = await order_state(gateway, order_id)
    assert state["OrderStatus"] == "Shipped" and len(state["Shipments"]) == 1
    assert await gateway.db.fetchval(f"SELECT status FROM {gateway.service.schema}.order_actions "
                                     "WHERE request_id = $1", request.event_id) == "done"
