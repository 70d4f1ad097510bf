"""Orders an integration creates for Amazon: the Amazon order ID in `ext_order_id`, totals, stock, lookups."""

from __future__ import annotations

import pytest

from magento_sim.core import AnswerLost

from .conftest import Client, amazon_order, criteria


async def stock(sim: Client, sku: str) -> dict:
    return (await sim.call("GET", f"/V1/products/{sku}")).json()["extension_attributes"]["stock_item"]


async def test_an_amazon_order_is_created_and_found_by_its_amazon_id(sim: Client) -> None:
    r = await sim.call("POST", "/V1/orders", json=amazon_order("113-4567890-1234567"))
    assert r.status_code == 200, r.text
    order = r.json()
    assert order["ext_order_id"] == "113-4567890-1234567" and order["increment_id"] == "000000001"
    assert (order["state"], order["status"], order["store_id"], order["customer_is_guest"]) == ("new", "pending", 1, 1)
    assert [(i["sku"], i["qty_ordered"], i["price"], i["row_total"]) for i in order["items"]] == [
        ("24-MB01", 2, 30.5, 61), ("24-MB02", 1, 59, 59)]
    assert order["items"][0]["ext_order_item_id"] == "113-4567890-1234567-0"
    assert (order["subtotal"], order["shipping_amount"], order["grand_total"], order["total_due"]) == (
        120, 4.99, 124.99, 124.99)
    assert order["payment"]["method"] == "checkmo" and order["billing_address"]["city"] == "Austin"
    shipping = order["extension_attributes"]["shipping_assignments"][0]["shipping"]
    assert shipping["address"]["address_type"] == "shipping" and shipping["method"] == "flatrate_flatrate"
    await sim.call("POST", "/V1/orders", json=amazon_order("113-0000000-0000002"))
    found = (await sim.call("GET", "/V1/orders", params=criteria(("ext_order_id", "113-4567890-1234567", "eq"))))
    assert [o["entity_id"] for o in found.json()["items"]] == [order["entity_id"]]
    by_increment = await sim.call("GET", "/V1/orders", params=criteria(("increment_id", "000000002", "eq")))
    assert by_increment.json()["items"][0]["ext_order_id"] == "113-0000000-0000002"
    assert (await sim.client.get("/_sim/orders", params={"ext_order_id": "113-4567890-1234567"})).json()[0][
        "entity_id"] == order["entity_id"]


async def test_totals_are_exact_in_decimal_with_tax_and_discount(sim: Client) -> None:
    body = amazon_order(lines=(("24-MB01", 3, 0.1),), shipping_amount=0.2)
    body["entity"]["items"][0].update({"tax_amount": 0.03, "discount_amount": 0.01})
    order = (await sim.call("POST", "/V1/orders", json=body)).json()
    assert (order["subtotal"], order["tax_amount"], order["discount_amount"], order["grand_total"]) == (
        0.3, 0.03, -0.01, 0.52)


async def test_stock_is_taken_for_managed_products_only(sim: Client) -> None:
    assert (await stock(sim, "24-MB01"))["qty"] == 100
    r = await sim.call("PUT", "/V1/products/24-MB02/stockItems/1", json={"stockItem": {"manage_stock": False}})
    assert r.status_code == 200
    await sim.call("POST", "/V1/orders", json=amazon_order(lines=(("24-MB01", 2, 30), ("24-MB02", 1, 59))))
    assert (await stock(sim, "24-MB01"))["qty"] == 98 and (await stock(sim, "24-MB02"))["qty"] == 100
    await sim.call("PUT", "/V1/products/24-MB01/stockItems/1", json={"stockItem": {"qty": 1}})
    r = await sim.call("POST", "/V1/orders", json=amazon_order(lines=(("24-MB01", 2, 30),)))
    assert (r.status_code, r.json()["message"]) == (
        400, "Not all of your products are available in the requested quantity.")
    await sim.call("POST", "/V1/orders", json=amazon_order(lines=(("24-MB01", 1, 30),)))
    sold_out = await stock(sim, "24-MB01")
    assert (sold_out["qty"], sold_out["is_in_stock"]) == (0, False)


async def test_updated_at_and_status_filters_find_what_changed(sim: Client) -> None:
    first = (await sim.call("POST", "/V1/orders", json=amazon_order("A-1"))).json()
    second = (await sim.call("POST", "/V1/orders", json=amazon_order("A-2"))).json()
    await sim.call("POST", f"/V1/orders/{second['entity_id']}/hold")
    held = await sim.call("GET", "/V1/orders", params=criteria(("status", "holded", "eq")))
    assert [o["ext_order_id"] for o in held.json()["items"]] == ["A-2"]
    since = await sim.call("GET", "/V1/orders", params=criteria(("updated_at", first["created_at"], "gteq")))
    assert since.json()["total_count"] == 2
    later = await sim.call("GET", "/V1/orders", params=criteria(("updated_at", "2999-01-01 00:00:00", "gt")))
    assert later.json()["total_count"] == 0


async def test_an_order_whose_answer_is_lost_exists(sim: Client) -> None:
    await sim.client.post("/_sim/faults", json={"timeout_after_commit_rate": 1.0, "operations": ["PostV1Orders"]})
    with pytest.raises(AnswerLost):
        await sim.call("POST", "/V1/orders", json=amazon_order("LOST-1"))
    found = await sim.call("GET", "/V1/orders", params=criteria(("ext_order_id", "LOST-1", "eq")))
    assert found.json()["total_count"] == 1


async def test_bad_orders_are_refused(sim: Client) -> None:
    no_payment = amazon_order()
    del no_payment["entity"]["payment"]
    r = await sim.call("POST", "/V1/orders", json=no_payment)
    assert r.status_code == 400 and r.json()["parameters"] == [{"fieldName": "payment.method"}]
    no_city = amazon_order()
    del no_city["entity"]["billing_address"]["city"]
    r = await sim.call("POST", "/V1/orders", json=no_city)
    assert r.json()["parameters"] == [{"fieldName": "billing_address.city"}]
    r = await sim.call("POST", "/V1/orders", json=amazon_order(lines=(("NOPE", 1, 1),)))
    assert r.status_code == 404
    r = await sim.call("POST", "/V1/orders", json=amazon_order(store_id=9))
    assert r.status_code == 404
    assert (await sim.client.get("/_sim/stats")).json()["orders"] == 0



async def test_an_order_keeps_the_number_it_is_given_once_per_store_and_complete_takes_no_stock(sim: Client) -> None:
    before = (await stock(sim, "24-MB01"))["qty"]
    body = amazon_order("113-1111111-1111111", increment_id="113-1111111-1111111", state="complete",
                        status="complete")
    created = await sim.call("POST", "/V1/orders", json=body)
    assert created.status_code == 200, created.text
    assert (created.json()["increment_id"], created.json()["state"]) == ("113-1111111-1111111", "complete")
    assert (await stock(sim, "24-MB01"))["qty"] == before
    again = await sim.call("POST", "/V1/orders", json=amazon_order("113-2222222-2222222",
                                                                   increment_id="113-1111111-1111111"))
    assert again.status_code == 400
    assert again.json()["message"] == "Unique constraint violation found"
    numbered = await sim.call("POST", "/V1/orders", json=amazon_order("113-3333333-3333333"))
    assert (await stock(sim, "24-MB01"))["qty"] == before - 2
    assert numbered.json()["increment_id"] != "113-1111111-1111111"
