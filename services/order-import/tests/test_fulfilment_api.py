"""The cancel and ship actions refuse what spec §14 does not allow, each with a problem naming the reason or the
field (acceptance check 2: a Shipped or PartiallyShipped order is not cancelled), and change nothing when they do."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.testing import auth_headers

sys.path.insert(0, str(Path(__file__).parent))
from fulfilment_support import VIEW_ONLY_ACCOUNT, fulfilment_service, imported_order


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


async def actions_of(service: Any, order_id: str) -> int:
    return await service.pool.fetchval("SELECT count(*) FROM order_actions WHERE amazon_order_id = $1", order_id)


# ---------------------------------------------------------------- §14 acceptance check 2 and the other refusals


@pytest.mark.parametrize(("order", "why"), [
    ({"status": "Shipped"}, "is Shipped on Amazon: only Unshipped orders are cancelled"),
    ({"status": "PartiallyShipped"}, "is PartiallyShipped on Amazon"),
    ({"status": "Pending"}, "is Pending on Amazon"),
    ({"fulfillment": "AFN", "status": "Shipped"}, "fulfilled by Amazon"),
    ({"fulfillment": "AFN", "status": "Unshipped"}, "fulfilled by Amazon"),
    ({"account": VIEW_ONLY_ACCOUNT}, "order import is off"),
])
async def test_14_2_only_unshipped_merchant_fulfilled_orders_of_importing_stores_are_cancelled(running, order,
                                                                                               why) -> None:
    service, client = running
    order_id = await imported_order(service.pool, **order)
    response = await client.post(f"/orders/{order_id}/cancel", json={"reason": "NoInventory"})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json" and why in response.json()["detail"]
    assert await actions_of(service, order_id) == 0
    audit = (await client.get("/audit", params={"target": f"AmazonOrder/{order_id}"})).json()
    assert audit == []


async def test_an_order_with_a_shipment_being_confirmed_is_not_cancelled(running) -> None:
    service, client = running
    order_id = await imported_order(service.pool, lines={"item-1": 2})
    assert (await client.post(f"/orders/{order_id}/ship", json={
        "carrier_code": "usps", "tracking_number": "9400", "items": {"item-1": 1}})).status_code == 202
    response = await client.post(f"/orders/{order_id}/cancel", json={"reason": "NoInventory"})
    assert response.status_code == 409 and "shipped or being confirmed" in response.json()["detail"]


async def test_an_unknown_order_is_404(running) -> None:
    _, client = running
    for path, body in (("cancel", {"reason": "NoInventory"}), ("ship", {"carrier_code": "ups", "tracking_number": "1"})):
        response = await client.post(f"/orders/000-0000000-0000000/{path}", json=body)
        assert response.status_code == 404 and "000-0000000-0000000" in response.json()["detail"]


@pytest.mark.parametrize(("body", "field", "says"), [
    ({"reason": "Changed my mind"}, "body.reason", "NoInventory"),
    ({"reason": "Pricing Error"}, "body.reason", "GeneralAdjustment"),
    ({}, "body.reason", "Field required"),
    ({"reason": ""}, "body.reason", "not one of Amazon's reason codes"),
    ({"reason": "no inventory"}, "body.reason", "not one of Amazon's reason codes"),
    ({"reason": 1}, "body.reason", "Input should be"),
    ({"reason": "NoInventory", "note": "x"}, "body.note", "Extra inputs"),
])
async def test_a_bad_reason_is_422_naming_the_field(running, body, field, says) -> None:
    service, client = running
    order_id = await imported_order(service.pool)
    response = await client.post(f"/orders/{order_id}/cancel", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field] and says in errors[0]["reason"]
    assert await actions_of(service, order_id) == 0


async def test_actions_need_the_operate_scope(running) -> None:
    service, client = running
    order_id = await imported_order(service.pool)
    for path, body in (("cancel", {"reason": "NoInventory"}), ("ship", {"carrier_code": "ups", "tracking_number": "1"})):
        read_only = await client.post(f"/orders/{order_id}/{path}", json=body, headers=auth_headers("read"))
        anonymous = await client.post(f"/orders/{order_id}/{path}", json=body, headers={"Authorization": ""})
        assert (read_only.status_code, anonymous.status_code) == (403, 401)
    assert (await client.get(f"/orders/{order_id}/fulfilment", headers=auth_headers("read"))).status_code == 200
    assert await actions_of(service, order_id) == 0


# ---------------------------------------------------------------- the ship action


@pytest.mark.parametrize(("body", "field"), [
    ({"carrier_code": "custom", "tracking_number": "T"}, "body.carrier_name"),
    ({"carrier_code": "Other", "tracking_number": "T"}, "body.carrier_name"),
    ({"carrier_code": "ups", "tracking_number": " "}, "body.tracking_number"),
    ({"carrier_code": "ups", "tracking_number": "T", "items": {"nope": 1}}, "body.items.nope"),
    ({"carrier_code": "ups", "tracking_number": "T", "items": {"item-1": 0}}, "body.items.item-1"),
    ({"carrier_code": "ups", "tracking_number": "T", "items": {}}, "body.items"),
    ({"carrier_code": "ups", "tracking_number": "T", "ship_date": "2999-01-01T00:00:00Z"}, "body.ship_date"),
    ({"carrier_code": "ups", "tracking_number": "T", "ship_date": "2020-01-01T00:00:00Z"}, "body.ship_date"),
    ({"carrier_code": "ups", "tracking_number": "T", "ship_date": "2026-01-01T00:00:00"}, "body.ship_date"),
])
async def test_a_bad_confirmation_is_422_naming_the_field(running, body, field) -> None:
    service, client = running
    order_id = await imported_order(service.pool)
    response = await client.post(f"/orders/{order_id}/ship", json=body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert await actions_of(service, order_id) == 0


@pytest.mark.parametrize(("order", "items", "why"), [
    ({"fulfillment": "AFN", "status": "Shipped"}, None, "fulfilled by Amazon"),
    ({"account": VIEW_ONLY_ACCOUNT}, None, "order import is off"),
    ({"status": "Shipped"}, None, "is Shipped on Amazon"),
    ({"status": "Canceled"}, None, "is Canceled on Amazon"),
    ({"lines": {"item-1": 1}}, {"item-1": 2}, "item-1 has 1 open"),
])
async def test_a_confirmation_the_order_does_not_allow_is_409(running, order, items, why) -> None:
    service, client = running
    order_id = await imported_order(service.pool, **order)
    body: dict[str, Any] = {"carrier_code": "dhl", "tracking_number": "JD0001"}
    if items is not None:
        body["items"] = items
    response = await client.post(f"/orders/{order_id}/ship", json=body)
    assert response.status_code == 409, response.text
    assert why in response.json()["detail"]
    assert await actions_of(service, order_id) == 0


async def test_by_hand_only_what_is_still_open_is_confirmed(running) -> None:
    service, client = running
    order_id = await imported_order(service.pool, lines={"item-1": 2, "item-2": 1})
    first = await client.post(f"/orders/{order_id}/ship", json={
        "carrier_code": "custom", "carrier_name": "Parcelforce", "tracking_number": "PF1", "items": {"item-1": 1},
        "ship_date": (datetime.now(UTC) - timedelta(hours=1)).isoformat(), "shipping_method": "Express"})
    assert first.status_code == 202, first.text
    assert (first.json()["carrier_code"], first.json()["carrier_name"]) == ("Other", "Parcelforce")
    rest = await client.post(f"/orders/{order_id}/ship", json={"carrier_code": "fedex", "tracking_number": "FX9"})
    assert rest.status_code == 202 and rest.json()["items"] == {"item-1": 1, "item-2": 1}
    nothing_left = await client.post(f"/orders/{order_id}/ship", json={"carrier_code": "fedex", "tracking_number": "X"})
    assert nothing_left.status_code == 409 and "every item" in nothing_left.json()["detail"]
    view = (await client.get(f"/orders/{order_id}/fulfilment")).json()
    assert [(i["order_item_id"], i["shipped"], i["awaiting"], i["confirmed"]) for i in view["items"]] == [
        ("item-1", 2, 2, 0), ("item-2", 1, 1, 0)]
