"""Spec §14's acceptance checks 1 and 3 on order-import as it is built (importer and fulfilment together), from
the events amazon-gateway and commerce-gateway publish: an order placed, created in Commerce, shipped there and
confirmed to Amazon; an order held for want of stock, cancelled with No Inventory, never imported."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

from contracts.events import CommerceOrderCreated, ShipmentCreated
from contracts.topics import ORDER_CANCELLATIONS, SHIPMENT_CONFIRMATIONS
from devstack.testing import eventually

sys.path.insert(0, str(Path(__file__).parent / "integration"))
sys.path.insert(0, str(Path(__file__).parent))
from fulfilment_support import answer
from orders_helpers import T0, placed, product, run_id, running, settings_doc, status

pytestmark = pytest.mark.integration


async def test_14_3_placed_created_shipped_in_commerce_confirmed_to_amazon_and_shipped(topics_created,
                                                                                        database_url) -> None:
    run = run_id()
    account, order_id, sku = f"ship-{run}", f"130-{run}-1", f"SKU-{run}"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku, quantity=10))
        await h.send(placed(account, order_id, sku=sku, quantity=2))
        [request] = await h.requests(order_id, at_least=1)
        await h.send(CommerceOrderCreated.new(
            producer="commerce-gateway", caused_by=request, account_id=account, marketplace_id=request.marketplace_id,
            amazon_order_id=order_id, created=True, commerce_order_id="9001", increment_id="000009001"))
        shipped_at = T0.replace(hour=15)
        await h.send(ShipmentCreated.new(
            producer="commerce-gateway", caused_by=request, account_id=account, marketplace_id=request.marketplace_id,
            amazon_order_id=order_id, commerce_shipment_id="7001", carrier_code="usps", carrier_name="USPS",
            tracking_number="9400111899223100000000", shipped_at=shipped_at, items={f"{order_id}-1": 2}))
        [confirmation] = await h.emitted(SHIPMENT_CONFIRMATIONS.name, {order_id}, at_least=1)
        awaiting_before = (await h.client.get("/orders/awaiting-shipment", params={"limit": 200})).json()
        await h.send(answer(confirmation))
        # amazon-gateway then reads the order again: Shipped, and an older Unshipped heard late.
        await h.send(status(account, order_id, "Shipped", "Unshipped", shipped_at),
                     status(account, order_id, "Unshipped", "Pending", T0))
        details = await h.order(order_id)
        awaiting_after = (await h.client.get("/orders/awaiting-shipment", params={"limit": 200})).json()
        purge_after = await h.pool.fetchval("SELECT purge_after FROM order_buyers WHERE amazon_order_id = $1",
                                            order_id)

    assert (confirmation.carrier_code, confirmation.tracking_number, confirmation.ship_date, confirmation.items) == (
        "USPS", "9400111899223100000000", shipped_at, {f"{order_id}-1": 2})
    assert (confirmation.account_id, confirmation.marketplace_id) == (account, request.marketplace_id)
    assert (details["amazon_status"], details["import_state"]) == ("Shipped", "created")
    assert details["shipped_at"] is not None and details["note"].startswith("Shipped: every item confirmed")
    assert order_id in [o["amazon_order_id"] for o in awaiting_before["items"]]
    assert order_id not in [o["amazon_order_id"] for o in awaiting_after["items"]]
    assert purge_after == shipped_at + timedelta(days=30)  # the default retention, from the ship date


async def test_14_1_an_order_held_for_stock_cancelled_with_no_inventory_is_canceled_and_never_imported(
        topics_created, database_url) -> None:
    run = run_id()
    account, order_id, sku = f"cancel-{run}", f"131-{run}-1", f"SKU-{run}"
    async with running(topics_created, database_url, schedule_interval_s=0.2) as h:
        await h.apply(settings_doc(account))
        await h.send(product(sku, quantity=0))
        await h.send(placed(account, order_id, sku=sku, quantity=1))
        held = await h.order(order_id)
        [reserved] = await h.reservations(order_id, at_least=1)

        response = await h.client.post(f"/orders/{order_id}/cancel", json={"reason": "No Inventory"})
        assert response.status_code == 202, response.text
        [cancellation] = await h.emitted(ORDER_CANCELLATIONS.name, {order_id}, at_least=1)
        await h.send(answer(cancellation, action="cancel"))

        async def released() -> bool:
            return (await h.order(order_id))["import_state"] == "skipped"

        await eventually(released, what="the cancelled order never imported")
        details = await h.order(order_id)
        reservations = await h.reservations(order_id, at_least=2)
        requests = await h.requests(order_id)

    assert held["import_state"] == "blocked" and reserved.reserved == {sku: 1}
    assert cancellation.reason_code == "NoInventory"
    assert details["amazon_status"] == "Canceled" and details["cancelled_at"] is not None
    assert [r.reserved for r in reservations] == [{sku: 1}, {}]
    assert requests == []


async def test_a_store_that_does_not_import_orders_is_view_only(topics_created, database_url) -> None:
    run = run_id()
    account, order_id, sku = f"off-{run}", f"132-{run}-1", f"SKU-{run}"
    async with running(topics_created, database_url) as h:
        await h.apply(settings_doc(account, import_enabled=False))
        await h.send(placed(account, order_id, sku=sku))
        cancel = await h.client.post(f"/orders/{order_id}/cancel", json={"reason": "NoInventory"})
        ship = await h.client.post(f"/orders/{order_id}/ship", json={"carrier_code": "ups", "tracking_number": "1Z"})

    assert (cancel.status_code, ship.status_code) == (409, 409)
    assert "order import is off" in cancel.json()["detail"] and "order import is off" in ship.json()["detail"]
