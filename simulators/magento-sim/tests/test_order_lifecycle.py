"""Hold, unhold, cancel, invoice and ship, from the states Magento allows them in; complete when invoiced and
fully shipped; the order and shipment webhooks."""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI, Request

from magento_sim import SimConfig, create_app
from magento_sim.webhooks import ENTITY_HEADER, SIGNATURE_HEADER, signature

from .conftest import Client, amazon_order


async def create(sim: Client, ext: str = "114-1") -> dict:
    r = await sim.call("POST", "/V1/orders", json=amazon_order(ext))
    assert r.status_code == 200, r.text
    return r.json()


async def order(sim: Client, order_id: int) -> dict:
    return (await sim.call("GET", f"/V1/orders/{order_id}")).json()


async def test_hold_and_unhold(sim: Client) -> None:
    oid = (await create(sim))["entity_id"]
    r = await sim.call("POST", f"/V1/orders/{oid}/unhold")
    assert (r.status_code, r.json()) == (400, {"message": "You cannot remove the hold."})
    assert (await sim.call("POST", f"/V1/orders/{oid}/hold")).json() is True
    held = await order(sim, oid)
    assert (held["state"], held["status"], held["hold_before_state"]) == ("holded", "holded", "new")
    r = await sim.call("POST", f"/V1/orders/{oid}/hold")
    assert (r.status_code, r.json()) == (400, {"message": "A hold action is not available."})
    assert (await sim.call("POST", f"/V1/orders/{oid}/cancel")).json() is False
    r = await sim.call("POST", f"/V1/order/{oid}/ship", json={})
    assert r.status_code == 400 and "status of holded" in r.json()["message"]
    assert (await sim.call("POST", f"/V1/orders/{oid}/unhold")).json() is True
    back = await order(sim, oid)
    assert (back["state"], back["status"]) == ("new", "pending") and "hold_before_state" not in back


async def test_cancel_gives_stock_back_and_is_final(sim: Client) -> None:
    created = await create(sim)
    oid = created["entity_id"]
    assert (await sim.call("POST", f"/V1/orders/{oid}/cancel")).json() is True
    canceled = await order(sim, oid)
    assert (canceled["state"], canceled["status"], canceled["total_canceled"]) == ("canceled", "canceled", 124.99)
    assert [i["qty_canceled"] for i in canceled["items"]] == [2, 1]
    bag = (await sim.call("GET", "/V1/products/24-MB01")).json()
    assert bag["extension_attributes"]["stock_item"]["qty"] == 100
    assert (await sim.call("POST", f"/V1/orders/{oid}/cancel")).json() is False
    assert (await sim.call("POST", f"/V1/orders/{oid}/hold")).status_code == 400
    r = await sim.call("POST", f"/V1/order/{oid}/invoice", json={})
    assert r.status_code == 400 and r.json()["message"].startswith("Invoice Document Validation Error(s):")


async def test_invoice_and_full_shipment_complete_the_order(sim: Client) -> None:
    created = await create(sim)
    oid, (first, second) = created["entity_id"], created["items"]
    await sim.call("POST", f"/V1/orders/{oid}/comments", json={"statusHistory": {
        "comment": "Amazon order 114-1", "is_customer_notified": 0, "is_visible_on_front": 0, "parent_id": oid}})
    assert (await sim.call("POST", f"/V1/order/{oid}/invoice", json={"capture": True})).status_code == 200
    invoiced = await order(sim, oid)
    assert (invoiced["state"], invoiced["total_invoiced"], invoiced["total_paid"], invoiced["total_due"]) == (
        "processing", 124.99, 124.99, 0)
    assert (await sim.call("POST", f"/V1/orders/{oid}/cancel")).json() is False  # everything invoiced
    r = await sim.call("POST", f"/V1/order/{oid}/ship", json={
        "items": [{"order_item_id": first["item_id"], "qty": 2}],
        "tracks": [{"carrier_code": "ups", "title": "UPS", "track_number": "1ZA"}]})
    partly = await order(sim, oid)
    assert r.status_code == 200 and partly["state"] == "processing"
    assert [i["qty_shipped"] for i in partly["items"]] == [2, 0]
    r = await sim.call("POST", f"/V1/order/{oid}/ship", json={
        "items": [{"order_item_id": second["item_id"], "qty": 2}]})
    assert r.status_code == 400  # more than is left to ship
    r = await sim.call("POST", f"/V1/order/{oid}/ship", json={
        "tracks": [{"carrier_code": "usps", "title": "USPS", "track_number": "9400"}]})
    done = await order(sim, oid)
    assert (done["state"], done["status"]) == ("complete", "complete")
    assert done["status_histories"][0]["comment"] == "Amazon order 114-1"
    assert done["updated_at"] >= created["updated_at"]
    shipments = (await sim.client.get("/_sim/shipments", params={"order_id": oid})).json()
    assert [[t["track_number"] for t in s["tracks"]] for s in shipments] == [["1ZA"], ["9400"]]
    assert (await sim.call("POST", f"/V1/order/{oid}/ship", json={})).status_code == 400


async def test_shipping_before_invoicing_waits_for_the_invoice(sim: Client) -> None:
    oid = (await create(sim))["entity_id"]
    shipment = (await sim.client.post(f"/_sim/orders/{oid}/ship",
                                      json={"tracks": [{"carrier_code": "dhl", "title": "DHL"}]})).json()
    assert shipment["tracks"][0]["carrier_code"] == "dhl" and shipment["tracks"][0]["track_number"]
    assert shipment["total_qty"] == 3
    assert (await order(sim, oid))["state"] == "processing"
    await sim.call("POST", f"/V1/order/{oid}/invoice", json={})
    assert (await order(sim, oid))["state"] == "complete"
    r = await sim.client.post("/_sim/orders/999/ship", json={})
    assert r.status_code == 404


async def test_order_and_shipment_changes_are_pushed_signed() -> None:
    received: list[tuple[bytes, dict[str, str]]] = []
    hooks = FastAPI()

    @hooks.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        received.append((await request.body(), dict(request.headers)))
        return {"ok": True}

    app = create_app(SimConfig(webhook_url="http://hooks.test/hook", webhook_secret="s3cret"),
                     webhook_transport=httpx.ASGITransport(app=hooks))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        sim = Client(client)
        first = await create(sim, "W-1")
        second = await create(sim, "W-2")
        await sim.call("POST", f"/V1/orders/{second['entity_id']}/cancel")
        await client.post(f"/_sim/orders/{first['entity_id']}/ship", json={})
        await app.state.sim.webhooks.drain()
    for body, headers in received:
        assert headers[SIGNATURE_HEADER.lower()] == signature("s3cret", body)
    sales = [(h[ENTITY_HEADER.lower()], json.loads(b)) for b, h in received if h[ENTITY_HEADER.lower()] != "product"]
    assert [(entity, body["entity"], body["event"]) for entity, body in sales] == [
        ("order", "order", "created"), ("order", "order", "created"), ("order", "order", "canceled"),
        ("shipment", "shipment", "created")]
    assert sales[0][1]["order"]["ext_order_id"] == "W-1" and sales[2][1]["order"]["state"] == "canceled"
    assert sales[3][1]["shipment"]["order_id"] == first["entity_id"]
    products = [json.loads(b)["sku"] for b, h in received if h[ENTITY_HEADER.lower()] == "product"]
    assert {"24-MB01", "24-MB02"} <= set(products)  # stock taken and given back
