"""Orders v0 in the simulator: every response checked against ordersV0.json."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from amazon_sim import SimConfig, create_app, schemas
from amazon_sim.testing import ACCOUNT, OTHER, SELLER, US, Sim, check

ORD = schemas.ORDERS
TOK = schemas.TOKENS
F = schemas.FEEDS
EPOCH = "2020-01-01T00:00:00Z"


async def seed(sim: Sim, sku: str, price: float = 12.5, quantity: int = 5) -> None:
    r = await sim.client.put(f"/_sim/listings/{SELLER}/{sku}", json={"productType": "HOME", "attributes": {
        "item_name": [{"value": f"Item {sku}", "marketplace_id": US}],
        "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                               "our_price": [{"schedule": [{"value_with_tax": price}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}})
    assert r.status_code == 200, r.text


async def place(sim: Sim, lines: list[tuple[str, int]], **extra: Any) -> dict[str, Any]:
    r = await sim.client.post("/_sim/orders", json={
        "sellerId": SELLER, "lines": [{"sku": s, "quantity": q} for s, q in lines], **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def get_orders(sim: Sim, **params: Any) -> httpx.Response:
    return await sim.call("GET", "/orders/v0/orders", params={"MarketplaceIds": US, **params})


async def items_of(sim: Sim, order_id: str) -> list[dict[str, Any]]:
    r = await sim.call("GET", f"/orders/v0/orders/{order_id}/orderItems")
    return check(ORD, "getOrderItems", r)["payload"]["OrderItems"]


def shipment(marketplace: str, items: list[dict[str, Any]], reference: str = "1", **package: Any) -> dict[str, Any]:
    return {"marketplaceId": marketplace, "packageDetail": {
        "packageReferenceId": reference, "carrierCode": "UPS", "trackingNumber": "1Z999AA10123456784",
        "shipDate": "2026-11-26T10:00:00Z",
        "orderItems": [{"orderItemId": i["OrderItemId"], "quantity": i["QuantityOrdered"]} for i in items],
        **package}}


async def test_order_read_operations_answer_in_amazons_shapes(sim: Sim) -> None:
    for n in range(12):
        await seed(sim, f"O-{n}", price=10 + n)
    order = await place(sim, [(f"O-{n}", 1 + n % 2) for n in range(12)])
    order_id = order["AmazonOrderId"]
    assert order["OrderStatus"] == "Unshipped" and len(order_id) == 19

    orders = check(ORD, "getOrders", await get_orders(sim, LastUpdatedAfter=EPOCH))["payload"]
    assert [o["AmazonOrderId"] for o in orders["Orders"]] == [order_id]
    assert orders["LastUpdatedBefore"] and "NextToken" not in orders
    view = orders["Orders"][0]
    assert view["FulfillmentChannel"] == "MFN" and view["MarketplaceId"] == US
    assert "BuyerInfo" not in view and "Name" not in view.get("ShippingAddress", {})  # PII needs its own call
    total = sum((10 + n) * (1 + n % 2) for n in range(12))
    assert view["OrderTotal"] == {"CurrencyCode": "USD", "Amount": f"{total}.00"}

    single = check(ORD, "getOrder", await sim.call("GET", f"/orders/v0/orders/{order_id}"))["payload"]
    assert single == view

    first = check(ORD, "getOrderItems", await sim.call("GET", f"/orders/v0/orders/{order_id}/orderItems"))["payload"]
    assert len(first["OrderItems"]) == 10 and first["NextToken"]
    second = check(ORD, "getOrderItems", await sim.call("GET", f"/orders/v0/orders/{order_id}/orderItems",
                                                      params={"NextToken": first["NextToken"]}))["payload"]
    assert len(second["OrderItems"]) == 2 and "NextToken" not in second
    items = first["OrderItems"] + second["OrderItems"]
    assert sorted(i["SellerSKU"] for i in items) == sorted(f"O-{n}" for n in range(12))
    assert {i["SellerSKU"]: i["ItemPrice"]["Amount"] for i in items}["O-1"] == "22.00"  # line price: 11 x 2

    denied = await sim.call("GET", f"/orders/v0/orders/{order_id}/address")  # PII needs a Restricted Data Token
    assert denied.status_code == 403 and "restricted data token" in check(ORD, "getOrderAddress", denied)[
        "errors"][0]["details"]
    rdt = {"x-amz-access-token": await restricted_data_token(sim, [f"/orders/v0/orders/{order_id}/address",
                                                                  "/orders/v0/orders/{orderId}/buyerInfo"])}
    address = check(ORD, "getOrderAddress", await sim.call("GET", f"/orders/v0/orders/{order_id}/address",
                                                           headers=rdt))
    assert address["payload"]["ShippingAddress"]["Name"]
    buyer = check(ORD, "getOrderBuyerInfo", await sim.call("GET", f"/orders/v0/orders/{order_id}/buyerInfo",
                                                           headers=rdt))
    assert buyer["payload"]["BuyerEmail"].endswith("@marketplace.amazon.com")

    missing = await sim.call("GET", "/orders/v0/orders/111-0000000-0000000")
    assert missing.status_code == 404
    check(ORD, "getOrder", missing)


async def restricted_data_token(sim: Sim, paths: list[str]) -> str:
    r = await sim.call("POST", "/tokens/2021-03-01/restrictedDataToken",
                       json={"restrictedResources": [{"method": "GET", "path": p} for p in paths]})
    assert r.status_code == 200, r.text
    body = check(TOK, "createRestrictedDataToken", r)
    assert body["restrictedDataToken"].startswith("Atz.sprdt|") and body["expiresIn"] == 3600
    return body["restrictedDataToken"]


@pytest.mark.parametrize("resource", [
    {"method": "GET", "path": "/listings/2021-08-01/items/S/SKU"},
    {"method": "POST", "path": "/orders/v0/orders/{orderId}/address"},
    {"method": "GET", "path": "/orders/v0/orders/{orderId}/address", "dataElements": ["buyerInfo"]},
    {"method": "GET", "path": "/orders/v0/orders", "dataElements": ["everything"]},
])
async def test_restricted_data_tokens_only_for_restricted_operations(sim: Sim, resource: dict[str, Any]) -> None:
    r = await sim.call("POST", "/tokens/2021-03-01/restrictedDataToken", json={"restrictedResources": [resource]})
    assert r.status_code == 400
    check(TOK, "createRestrictedDataToken", r)


async def test_an_app_without_the_pii_role_gets_no_restricted_data_token() -> None:
    app = create_app(SimConfig(accounts=[ACCOUNT.model_copy(update={"pii_role": False})]), background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        s = Sim(client)
        await s.login()
        r = await s.call("POST", "/tokens/2021-03-01/restrictedDataToken", json={"restrictedResources": [
            {"method": "GET", "path": "/orders/v0/orders/{orderId}/address"}]})
        assert r.status_code == 400  # Amazon answers InvalidInput, not 403
        assert check(TOK, "createRestrictedDataToken", r)["errors"][0] == {
            "code": "InvalidInput", "message": "Application do not have access to some or all requested resource"}


async def test_get_orders_filters_and_pages_without_losing_or_repeating(sim: Sim) -> None:
    await seed(sim, "P-1")
    placed = [await place(sim, [("P-1", 1)], orderStatus="Pending" if n % 3 == 0 else "Unshipped")
              for n in range(25)]
    seen: list[str] = []
    r = await get_orders(sim, LastUpdatedAfter=EPOCH, MaxResultsPerPage=7)
    pages = 0
    while True:
        payload = check(ORD, "getOrders", r)["payload"]
        pages += 1
        assert len(payload["Orders"]) <= 7
        seen += [o["AmazonOrderId"] for o in payload["Orders"]]
        if "NextToken" not in payload:
            break
        # A status change between pages must not make the walk skip an order.
        await sim.client.post(f"/_sim/orders/{placed[0]['AmazonOrderId']}/status", json={"orderStatus": "Shipped"})
        r = await get_orders(sim, NextToken=payload["NextToken"])
    assert pages == 4
    assert sorted(seen) == sorted(o["AmazonOrderId"] for o in placed)

    pending = check(ORD, "getOrders", await get_orders(sim, CreatedAfter=EPOCH, OrderStatuses="Pending"))
    assert {o["OrderStatus"] for o in pending["payload"]["Orders"]} == {"Pending"}
    assert len(pending["payload"]["Orders"]) == 8  # placed[0] has shipped since
    assert pending["payload"]["CreatedBefore"]


@pytest.mark.parametrize("params, field", [
    ({}, "CreatedAfter"),
    ({"CreatedAfter": EPOCH, "LastUpdatedAfter": EPOCH}, "LastUpdatedAfter"),
    ({"LastUpdatedAfter": EPOCH, "LastUpdatedBefore": "2999-01-01T00:00:00Z"}, "LastUpdatedBefore"),
    ({"LastUpdatedAfter": EPOCH, "OrderStatuses": "Lost"}, "OrderStatuses"),
    ({"LastUpdatedAfter": EPOCH, "MaxResultsPerPage": "101"}, "MaxResultsPerPage"),
    ({"LastUpdatedAfter": EPOCH, "NextToken": "not-a-token"}, "NextToken"),
])
async def test_get_orders_refuses_what_amazon_refuses(sim: Sim, params: dict[str, str], field: str) -> None:
    r = await get_orders(sim, **params)
    assert r.status_code == 400
    assert check(ORD, "getOrders", r)["errors"][0]["details"] == field


async def test_statuses_move_with_time_and_every_change_is_told(sim: Sim) -> None:
    changes: list[tuple[str, str, str]] = []
    app_sim = sim.client._transport.app.state.sim  # type: ignore[attr-defined]
    app_sim.orders.order_listeners.append(lambda o, kind: changes.append((o.amazon_order_id, o.status, kind)))
    await seed(sim, "T-1")
    mfn = await place(sim, [("T-1", 1)], orderStatus="Pending")
    afn = await place(sim, [("T-1", 2)], orderStatus="Pending", fulfillmentChannel="AFN")
    await sim.client.post("/_sim/clock/advance", json={"seconds": 6})
    state = (await sim.client.get(f"/_sim/orders/{mfn['AmazonOrderId']}")).json()
    assert state["OrderStatus"] == "Unshipped" and state["LastUpdateDate"] > mfn["LastUpdateDate"]
    assert "OrderTotal" in state and "ShippingAddress" in state
    await sim.client.post("/_sim/clock/advance", json={"seconds": 60})
    shipped = (await sim.client.get(f"/_sim/orders/{afn['AmazonOrderId']}")).json()
    assert shipped["OrderStatus"] == "Shipped" and shipped["NumberOfItemsShipped"] == 2
    assert (await sim.client.get(f"/_sim/orders/{mfn['AmazonOrderId']}")).json()["OrderStatus"] == "Unshipped"
    await sim.client.post(f"/_sim/orders/{mfn['AmazonOrderId']}/buyer-cancel-request", json={"reason": "late"})
    items = await items_of(sim, mfn["AmazonOrderId"])
    assert items[0]["BuyerRequestedCancel"] == {"IsBuyerRequestedCancel": "true", "BuyerCancelReason": "late"}
    assert changes == [
        (mfn["AmazonOrderId"], "Pending", "OrderStatusChange"), (afn["AmazonOrderId"], "Pending", "OrderStatusChange"),
        (mfn["AmazonOrderId"], "Unshipped", "OrderStatusChange"),
        (afn["AmazonOrderId"], "Unshipped", "OrderStatusChange"),
        (afn["AmazonOrderId"], "Shipped", "OrderStatusChange"),
        (mfn["AmazonOrderId"], "Unshipped", "BuyerRequestedChange")]
    updated = check(ORD, "getOrders", await get_orders(sim, LastUpdatedAfter=shipped["LastUpdateDate"]))
    # LastUpdatedAfter is inclusive: the AFN order's last change is at exactly that time
    assert [o["AmazonOrderId"] for o in updated["payload"]["Orders"]] == [afn["AmazonOrderId"], mfn["AmazonOrderId"]]


async def test_confirm_shipment_ships_in_parts_and_refuses_like_amazon(sim: Sim) -> None:
    await seed(sim, "S-1")
    await seed(sim, "S-2")
    order = await place(sim, [("S-1", 2), ("S-2", 1)])
    oid = order["AmazonOrderId"]
    items = await items_of(sim, oid)
    path = f"/orders/v0/orders/{oid}/shipmentConfirmation"

    bad = await sim.call("POST", path, json={"marketplaceId": US, "packageDetail": {"carrierCode": "UPS"}})
    assert bad.status_code == 400
    assert check(ORD, "confirmShipment", bad)["errors"][0]["code"] == "InvalidInput"
    first = shipment(US, items[:1])
    assert schemas.definition_validator(ORD, "ConfirmShipmentRequest").is_valid(first)
    r = await sim.call("POST", path, json=first)
    assert r.status_code == 204 and r.content == b""
    assert (await sim.client.get(f"/_sim/orders/{oid}")).json()["OrderStatus"] == "PartiallyShipped"
    assert (await sim.call("POST", path, json=first)).status_code == 204  # the same package again: no change
    over = await sim.call("POST", path, json=shipment(US, items[:1], reference="2"))
    assert over.status_code == 400 and "exceeds" in over.json()["errors"][0]["message"]
    assert (await sim.call("POST", path, json=shipment(US, items[1:], reference="x1"))).status_code == 400
    assert (await sim.call("POST", path, json=shipment(US, items[1:], reference="2"))).status_code == 204
    state = (await sim.client.get(f"/_sim/orders/{oid}")).json()
    assert state["OrderStatus"] == "Shipped" and len(state["Shipments"]) == 2
    shipments = (await sim.client.get("/_sim/orders/shipments", params={"sellerId": SELLER})).json()["shipments"]
    assert [s["packageReferenceId"] for s in shipments] == ["1", "2"]

    canceled = await place(sim, [("S-1", 1)])
    await sim.client.post(f"/_sim/orders/{canceled['AmazonOrderId']}/status", json={"orderStatus": "Canceled"})
    refused = await sim.call("POST", f"/orders/v0/orders/{canceled['AmazonOrderId']}/shipmentConfirmation",
                             json=shipment(US, await items_of(sim, canceled["AmazonOrderId"])))
    assert refused.status_code == 400 and "canceled" in refused.json()["errors"][0]["message"]
    afn = await place(sim, [("S-1", 1)], fulfillmentChannel="AFN")
    r = await sim.call("POST", f"/orders/v0/orders/{afn['AmazonOrderId']}/shipmentConfirmation",
                       json=shipment(US, await items_of(sim, afn["AmazonOrderId"])))
    assert r.status_code == 400


def acknowledgement(seller: str, orders: list[tuple[str, list[str], str]], status: str = "Failure") -> bytes:
    messages = "".join(
        f"<Message><MessageID>{n}</MessageID><OrderAcknowledgement><AmazonOrderID>{oid}</AmazonOrderID>"
        f"<StatusCode>{status}</StatusCode>"
        + "".join(f"<Item><AmazonOrderItemCode>{i}</AmazonOrderItemCode><CancelReason>{reason}</CancelReason></Item>"
                  for i in items)
        + "</OrderAcknowledgement></Message>"
        for n, (oid, items, reason) in enumerate(orders, start=1))
    return (f'<?xml version="1.0" encoding="UTF-8"?><AmazonEnvelope><Header><DocumentVersion>1.01</DocumentVersion>'
            f"<MerchantIdentifier>{seller}</MerchantIdentifier></Header><MessageType>OrderAcknowledgement"
            f"</MessageType>{messages}</AmazonEnvelope>").encode()


async def submit_feed(sim: Sim, content: bytes) -> dict[str, Any]:
    r = await sim.call("POST", "/feeds/2021-06-30/documents", json={"contentType": "text/xml; charset=UTF-8"})
    doc = check(F, "createFeedDocument", r)
    assert (await sim.client.put(doc["url"], content=content)).status_code == 200
    r = await sim.call("POST", "/feeds/2021-06-30/feeds", json={
        "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA", "marketplaceIds": [US],
        "inputFeedDocumentId": doc["feedDocumentId"]})
    feed_id = check(F, "createFeed", r)["feedId"]
    await sim.client.post("/_sim/clock/advance", json={"seconds": 11})
    return check(F, "getFeed", await sim.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}"))


async def report_of(sim: Sim, feed: dict[str, Any]) -> ET.Element:
    doc = check(F, "getFeedDocument", await sim.call("GET", f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}"))
    return ET.fromstring((await sim.client.get(doc["url"])).content)


async def test_cancellation_feed_cancels_unshipped_orders_and_reports_the_rest(sim: Sim) -> None:
    await seed(sim, "C-1")
    await seed(sim, "C-2")
    open_order = await place(sim, [("C-1", 1), ("C-2", 1)])
    shipped = await place(sim, [("C-1", 1)])
    await sim.client.post(f"/_sim/orders/{shipped['AmazonOrderId']}/status", json={"orderStatus": "Shipped"})
    open_items = [i["OrderItemId"] for i in await items_of(sim, open_order["AmazonOrderId"])]
    shipped_items = [i["OrderItemId"] for i in await items_of(sim, shipped["AmazonOrderId"])]
    feed = await submit_feed(sim, acknowledgement(SELLER, [
        (open_order["AmazonOrderId"], open_items, "NoInventory"),
        (shipped["AmazonOrderId"], shipped_items, "BuyerCanceled"),
        ("999-0000000-0000000", ["1"], "NoInventory")]))
    assert feed["processingStatus"] == "DONE" and feed["feedType"] == "POST_ORDER_ACKNOWLEDGEMENT_DATA"

    report = (await report_of(sim, feed)).find("Message/ProcessingReport")
    assert report is not None and report.findtext("DocumentTransactionID") == feed["feedId"]
    assert report.findtext("ProcessingSummary/MessagesProcessed") == "3"
    assert report.findtext("ProcessingSummary/MessagesSuccessful") == "1"
    errors = {r.findtext("MessageID"): r.findtext("AdditionalInfo/AmazonOrderID") for r in report.findall("Result")}
    assert errors == {"2": shipped["AmazonOrderId"], "3": "999-0000000-0000000"}

    state = (await sim.client.get(f"/_sim/orders/{open_order['AmazonOrderId']}")).json()
    assert state["OrderStatus"] == "Canceled" and state["CancelReason"] == "NoInventory"
    assert state["NumberOfItemsUnshipped"] == 0
    assert (await sim.client.get(f"/_sim/orders/{shipped['AmazonOrderId']}")).json()["OrderStatus"] == "Shipped"
    cancellations = (await sim.client.get("/_sim/orders/cancellations")).json()["cancellations"]
    assert [(c["amazonOrderId"], c["feedId"]) for c in cancellations] == [(open_order["AmazonOrderId"],
                                                                           feed["feedId"])]


async def test_cancellation_feed_with_bad_xml_or_missing_reasons(sim: Sim) -> None:
    await seed(sim, "X-1")
    order = await place(sim, [("X-1", 1)])
    fatal = await submit_feed(sim, b"<AmazonEnvelope><Header>")
    assert fatal["processingStatus"] == "FATAL"
    assert (await report_of(sim, fatal)).findtext("Message/ProcessingReport/Result/ResultCode") == "Error"
    items = [i["OrderItemId"] for i in await items_of(sim, order["AmazonOrderId"])]
    wrong = await submit_feed(sim, acknowledgement(SELLER, [(order["AmazonOrderId"], items, "Whatever")]))
    assert "CancelReason" in ((await report_of(sim, wrong)).findtext("Message/ProcessingReport/Result/"
                                                                    "ResultDescription") or "")
    other = await submit_feed(sim, acknowledgement("A2OTHERSELLER", [(order["AmazonOrderId"], items, "NoInventory")]))
    assert other["processingStatus"] == "FATAL"
    assert (await sim.client.get(f"/_sim/orders/{order['AmazonOrderId']}")).json()["OrderStatus"] == "Unshipped"


async def test_get_orders_rate_limit_is_the_published_plan(sim: Sim) -> None:
    statuses = [(await get_orders(sim, LastUpdatedAfter=EPOCH)).status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    limits = (await sim.client.get("/_sim/ratelimits")).json()["plans"]
    assert limits["getOrders"] == {"rate": 0.0167, "burst": 20}
    assert limits["confirmShipment"] == {"rate": 2.0, "burst": 10}


@pytest.fixture
async def busy_sim() -> AsyncIterator[Sim]:
    app = create_app(SimConfig(accounts=[ACCOUNT, OTHER], seed=3, orders_per_minute=60), background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        s = Sim(client)
        await s.login()
        yield s


async def test_buyers_place_orders_at_the_configured_rate(busy_sim: Sim) -> None:
    await seed(busy_sim, "B-1")
    await busy_sim.client.get("/_sim/orders")  # starts the buyers' clock
    for _ in range(10):
        await busy_sim.client.post("/_sim/clock/advance", json={"seconds": 3})
    orders = (await busy_sim.client.get("/_sim/orders", params={"sellerId": SELLER})).json()["orders"]
    assert 25 <= len(orders) <= 35
    assert {o["Items"][0]["SellerSKU"] for o in orders} == {"B-1"}
    assert {o["FulfillmentChannel"] for o in orders} == {"AFN", "MFN"}
    page = check(ORD, "getOrders", await get_orders(busy_sim, CreatedAfter=EPOCH))["payload"]["Orders"]
    assert len(page) == len(orders)
