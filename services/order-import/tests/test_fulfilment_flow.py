"""Fulfilment through the events and the API, against the real broker and PostgreSQL (spec §14): Commerce shipments
confirmed to Amazon with Amazon's carrier codes, package by package, the order Shipped once every item is; a
cancellation of an Unshipped order with Amazon's reason; Amazon's answers closing each action."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.events import CommerceOrderCancelled, ShipmentCreated
from contracts.topics import ORDER_CANCELLATIONS, SHIPMENT_CONFIRMATIONS
from devstack.testing import auth_headers, publish
from servicekit import Tx

sys.path.insert(0, str(Path(__file__).parent))
from fulfilment_support import (
    answer,
    fulfilment_service,
    handled,
    imported_order,
    order_row,
    requests_of,
    until_order,
)

SHIPPED = datetime.now(UTC) - timedelta(hours=3)


@pytest.fixture(scope="module")
async def running(topics_created: str, database_url: str) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    service = fulfilment_service(topics_created, database_url)
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(service.asgi()),
                                     base_url="http://order-import") as client:
            yield service, client
    finally:
        await service.stop()


def shipment(order_id: str, items: dict[str, int], *, shipment_id: str, carrier: str = "ups",
             title: str | None = "United Parcel Service", tracking: str = "1Z999AA10123456784") -> ShipmentCreated:
    """commerce-gateway's ShipmentCreated for a shipment made in Commerce."""
    return ShipmentCreated.new(
        producer="commerce-gateway", account_id="acct-1", marketplace_id="ATVPDKIKX0DER", amazon_order_id=order_id,
        commerce_shipment_id=shipment_id, carrier_code=carrier, carrier_name=title, tracking_number=tracking,
        shipped_at=SHIPPED, items=items)


async def settled_at(pool: Any, order_id: str) -> datetime | None:
    return await pool.fetchval("SELECT settled_at FROM order_buyers WHERE amazon_order_id = $1", order_id)


# ---------------------------------------------------------------- §14 acceptance check 3


async def test_14_3_ship_in_commerce_with_carrier_and_tracking_marks_it_shipped(topics_created, running) -> None:
    service, client = running
    order_id = await imported_order(service.pool, lines={"item-1": 1, "item-2": 2})
    made = shipment(order_id, {"item-1": 1, "item-2": 2}, shipment_id=f"s-{order_id}")
    await publish(topics_created, [made])

    [request] = await requests_of(topics_created, SHIPMENT_CONFIRMATIONS.name, order_id, 1)
    assert (request.carrier_code, request.carrier_name, request.tracking_number) == ("UPS", None, "1Z999AA10123456784")
    assert request.ship_date == SHIPPED and request.items == {"item-1": 1, "item-2": 2}
    assert request.causation_id == made.event_id and request.account_id == "acct-1"

    await publish(topics_created, [answer(request)])
    await until_order(service.pool, order_id, lambda o: o["amazon_status"] == "Shipped", "order Shipped")
    order = await order_row(service.pool, order_id)
    assert order["shipped_at"] == SHIPPED
    assert await settled_at(service.pool, order_id) == SHIPPED
    view = (await client.get(f"/orders/{order_id}/fulfilment")).json()
    assert [(i["order_item_id"], i["ordered"], i["shipped"], i["confirmed"], i["awaiting"]) for i in view["items"]] \
        == [("item-1", 1, 1, 1, 0), ("item-2", 2, 2, 2, 0)]
    assert [(a["kind"], a["state"], a["source"]) for a in view["actions"]] == [("confirm_shipment", "accepted",
                                                                              "commerce")]
    assert view["shipments"][0]["action_id"] == view["actions"][0]["id"]


# ---------------------------------------------------------------- partial shipments


async def test_each_commerce_shipment_is_a_package_and_the_order_is_shipped_once_every_item_is(
        topics_created, running) -> None:
    service, client = running
    order_id = await imported_order(service.pool, lines={"item-1": 2, "item-2": 1})
    first = shipment(order_id, {"item-1": 1}, shipment_id=f"a-{order_id}", carrier="custom", title="Royal Mail",
                     tracking="RM1")
    second = shipment(order_id, {"item-1": 1, "item-2": 1}, shipment_id=f"b-{order_id}", carrier="fedex",
                      title="Federal Express", tracking="FX2")
    await publish(topics_created, [first, second])

    package_1, package_2 = await requests_of(topics_created, SHIPMENT_CONFIRMATIONS.name, order_id, 2)
    assert (package_1.carrier_code, package_1.carrier_name, package_1.tracking_number, package_1.items) == (
        "Other", "Royal Mail", "RM1", {"item-1": 1})
    assert (package_2.carrier_code, package_2.carrier_name, package_2.tracking_number, package_2.items) == (
        "FedEx", None, "FX2", {"item-1": 1, "item-2": 1})

    # Amazon answers the second package first: the order is partly shipped, then shipped.
    await publish(topics_created, [answer(package_2)])
    await until_order(service.pool, order_id, lambda o: o["amazon_status"] == "PartiallyShipped", "PartiallyShipped")
    assert (await order_row(service.pool, order_id))["shipped_at"] is None
    assert await settled_at(service.pool, order_id) is None
    again = answer(package_2)  # the same answer delivered twice (a new event id) changes nothing
    await publish(topics_created, [again])
    await handled(service.pool, again)
    assert (await order_row(service.pool, order_id))["amazon_status"] == "PartiallyShipped"

    await publish(topics_created, [answer(package_1)])
    await until_order(service.pool, order_id, lambda o: o["amazon_status"] == "Shipped", "order Shipped")
    view = (await client.get(f"/orders/{order_id}/fulfilment")).json()
    assert [(i["order_item_id"], i["confirmed"]) for i in view["items"]] == [("item-1", 2), ("item-2", 1)]


# ---------------------------------------------------------------- duplicates


async def test_a_commerce_shipment_heard_twice_is_confirmed_once(topics_created, running) -> None:
    service, _ = running
    order_id = await imported_order(service.pool, lines={"item-1": 3})
    made = shipment(order_id, {"item-1": 1}, shipment_id=f"dup-{order_id}", tracking="T-1")
    announced_again = shipment(order_id, {"item-1": 1}, shipment_id=f"dup-{order_id}", tracking="T-1")
    later = shipment(order_id, {"item-1": 2}, shipment_id=f"next-{order_id}", tracking="T-2")
    await publish(topics_created, [made, made, announced_again])
    await handled(service.pool, announced_again)
    await publish(topics_created, [later])

    # One partition per order, in order: a second confirmation of the first shipment would come before T-2's.
    first, second = await requests_of(topics_created, SHIPMENT_CONFIRMATIONS.name, order_id, 2)
    assert (first.tracking_number, first.items) == ("T-1", {"item-1": 1})
    assert (second.tracking_number, second.items) == ("T-2", {"item-1": 2})
    assert await service.pool.fetchval("SELECT count(*) FROM order_actions WHERE amazon_order_id = $1",
                                       order_id) == 2


# ---------------------------------------------------------------- refusals by Amazon


async def test_a_rejected_confirmation_is_an_order_error_with_amazons_message_and_can_be_confirmed_by_hand(
        topics_created, running) -> None:
    service, client = running
    order_id = await imported_order(service.pool, lines={"item-1": 2, "item-2": 1})
    await publish(topics_created, [shipment(order_id, {"item-1": 1}, shipment_id=f"r-{order_id}", tracking="BAD")])
    [request] = await requests_of(topics_created, SHIPMENT_CONFIRMATIONS.name, order_id, 1)
    await publish(topics_created, [answer(request, accepted=False, message="The tracking number BAD is not valid.")])

    await until_order(service.pool, order_id, lambda o: "not valid" in (o["note"] or ""), "order error noted")
    order = await order_row(service.pool, order_id)
    assert order["note"] == ("Amazon refused the shipment confirmation (UPS BAD): "
                             "InvalidInput: The tracking number BAD is not valid.")
    assert order["amazon_status"] == "Unshipped" and order["shipped_at"] is None

    async def open_errors() -> list[dict]:
        listed = await client.get("/order-actions", params={"state": "rejected", "unresolved": "true", "limit": 1000})
        return [e for e in listed.json() if e["amazon_order_id"] == order_id]

    [error] = await open_errors()
    assert error["issues"] == [{"code": "InvalidInput", "message": "The tracking number BAD is not valid.",
                                "severity": "ERROR", "attribute_names": []}]

    # Sent again by hand: by default what was shipped and not confirmed, not the item still in the warehouse.
    fixed = await client.post(f"/orders/{order_id}/ship", json={"carrier_code": "UPS",
                                                                "tracking_number": "1Z999AA10123456784"})
    assert fixed.status_code == 202, fixed.text
    assert fixed.json()["items"] == {"item-1": 1} and fixed.json()["requested_by"] == "test-all"
    assert await open_errors() == []
    _, by_hand = await requests_of(topics_created, SHIPMENT_CONFIRMATIONS.name, order_id, 2)
    assert (by_hand.carrier_code, by_hand.tracking_number, by_hand.items) == ("UPS", "1Z999AA10123456784",
                                                                             {"item-1": 1})
    assert str(by_hand.event_id) == fixed.json()["request_event_id"]
    await publish(topics_created, [answer(by_hand)])
    await until_order(service.pool, order_id, lambda o: o["amazon_status"] == "PartiallyShipped",
                      "order PartiallyShipped")
    view = (await client.get(f"/orders/{order_id}/fulfilment")).json()
    assert [(i["order_item_id"], i["shipped"], i["confirmed"]) for i in view["items"]] == [
        ("item-1", 1, 1), ("item-2", 0, 0)]  # the parcel sent again is not counted twice
    audit = (await client.get("/audit", params={"action": "order.ship", "target": f"AmazonOrder/{order_id}"})).json()
    assert [a["actor"] for a in audit] == ["test-all"]
    notes = await service.pool.fetch("SELECT kind, note FROM order_notes WHERE amazon_order_id = $1 ORDER BY id",
                                     order_id)
    assert [n["kind"] for n in notes] == ["error", "action", "amazon"]
    assert notes[1]["note"] == "Shipment UPS 1Z999AA10123456784 sent to Amazon for test-all: 1 x item-1"


# ---------------------------------------------------------------- orders not shipped here


@pytest.mark.parametrize(("kind", "why"), [
    ({"fulfillment": "AFN", "status": "Shipped"}, "fulfilled by Amazon"),
    ({"account": "acct-view-only"}, "view-only"),
    ({"status": "Canceled"}, "Canceled on Amazon"),
])
async def test_shipments_of_orders_not_shipped_here_are_noted_and_not_confirmed(topics_created, running, kind,
                                                                                 why) -> None:
    service, _ = running
    order_id = await imported_order(service.pool, **kind)
    made = shipment(order_id, {"item-1": 1}, shipment_id=f"x-{order_id}")
    await publish(topics_created, [made])
    await handled(service.pool, made)

    order = await order_row(service.pool, order_id)
    assert why in order["note"] and order["note"].startswith(f"Commerce shipment x-{order_id} not confirmed")
    # The confirmation would have been written with its action row, in the same transaction.
    assert await service.pool.fetchval("SELECT count(*) FROM order_actions WHERE amazon_order_id = $1", order_id) == 0
    assert await service.pool.fetchval("SELECT note FROM commerce_shipments WHERE commerce_shipment_id = $1",
                                       f"x-{order_id}") is not None


# ---------------------------------------------------------------- §14 acceptance check 1


async def test_14_1_cancel_an_unshipped_order_with_no_inventory(topics_created, running) -> None:
    service, client = running
    order_id = await imported_order(service.pool, lines={"item-1": 1, "item-2": 1})
    response = await client.post(f"/orders/{order_id}/cancel", json={"reason": "No Inventory"})
    assert response.status_code == 202, response.text
    action = response.json()
    assert (action["kind"], action["state"], action["reason"], action["already_requested"]) == (
        "cancel", "requested", "NoInventory", False)

    [request] = await requests_of(topics_created, ORDER_CANCELLATIONS.name, order_id, 1)
    assert (request.reason_code, request.account_id, request.marketplace_id) == ("NoInventory", "acct-1",
                                                                                  "ATVPDKIKX0DER")
    assert str(request.event_id) == action["request_event_id"]

    await publish(topics_created, [answer(request, action="cancel")])
    await until_order(service.pool, order_id, lambda o: o["amazon_status"] == "Canceled", "order Canceled")
    order = await order_row(service.pool, order_id)
    assert order["cancelled_at"] is not None and order["note"] == "Cancelled on Amazon (NoInventory)"
    assert await settled_at(service.pool, order_id) == order["cancelled_at"]
    audit = (await client.get("/audit", params={"action": "order.cancel", "target": f"AmazonOrder/{order_id}"})).json()
    assert [(a["actor"], a["before"], a["after"]["reason"]) for a in audit] == [
        ("test-all", {"reason": "NoInventory"}, "NoInventory")]
    again = await client.post(f"/orders/{order_id}/cancel", json={"reason": "NoInventory"})
    assert again.status_code == 409 and "Canceled" in again.json()["detail"]


async def test_a_pending_cancellation_is_sent_once_and_a_refused_one_can_be_asked_again(topics_created,
                                                                                         running) -> None:
    service, client = running
    order_id = await imported_order(service.pool)
    first = (await client.post(f"/orders/{order_id}/cancel", json={"reason": "BuyerCanceled"})).json()
    repeated = await client.post(f"/orders/{order_id}/cancel", json={"reason": "Buyer Cancelled"})
    assert repeated.status_code == 202 and repeated.json()["already_requested"] is True
    assert repeated.json()["id"] == first["id"]
    other_reason = await client.post(f"/orders/{order_id}/cancel", json={"reason": "NoInventory"})
    assert other_reason.status_code == 409 and "already awaits" in other_reason.json()["detail"]

    [request] = await requests_of(topics_created, ORDER_CANCELLATIONS.name, order_id, 1)
    await publish(topics_created, [answer(request, accepted=False, action="cancel",
                                          message="Order is not in a cancellable state.")])
    await until_order(service.pool, order_id, lambda o: "cancellable" in (o["note"] or ""), "refusal noted")
    assert (await order_row(service.pool, order_id))["amazon_status"] == "Unshipped"

    retried = await client.post(f"/orders/{order_id}/cancel", json={"reason": "GeneralAdjustment"})
    assert retried.status_code == 202 and retried.json()["already_requested"] is False
    # One partition per order, in order: a second send of the first request would come before the retry.
    sent_first, sent_second = await requests_of(topics_created, ORDER_CANCELLATIONS.name, order_id, 2)
    assert str(sent_first.event_id) == first["request_event_id"]
    assert (str(sent_second.event_id), sent_second.reason_code) == (retried.json()["request_event_id"],
                                                                    "GeneralAdjustment")


# ---------------------------------------------------------------- cancelled in Commerce


async def test_an_order_cancelled_in_commerce_is_noted_as_still_open_on_amazon(running) -> None:
    service, _ = running
    order_id = await imported_order(service.pool)
    cancelled = CommerceOrderCancelled.new(
        producer="commerce-gateway", account_id="acct-1", marketplace_id="ATVPDKIKX0DER", amazon_order_id=order_id,
        store_code="default", commerce_order_id="42", increment_id="000000042", cancelled_at=SHIPPED)
    async with service.pool.acquire() as conn, conn.transaction():
        tx = Tx(conn, service.name)
        await service.fulfilment.on_commerce_order_cancelled(tx, [cancelled])
    assert tx.emitted == []
    order = await order_row(service.pool, order_id)
    assert order["amazon_status"] == "Unshipped"
    assert order["note"].startswith("Cancelled in Commerce (order 000000042) but still Unshipped on Amazon")


async def test_views_of_an_unknown_order_are_404(running) -> None:
    _, client = running
    response = await client.get("/orders/999-0000000-0000000/fulfilment")
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"

