"""Every answer the simulator gives, for every operation it serves, validates against that operation's response
schema in Adobe's published Commerce 2.4.8 model; and no operation is served without a test driving it."""

from __future__ import annotations

import pytest

from magento_sim import model
from magento_sim.api import OPERATIONS
from magento_sim.testing import check

from .conftest import Client, amazon_order, criteria

DRIVEN: set[tuple[str, str]] = set()
SEARCH = {"searchCriteria[filter_groups][0][filters][0][field]": "sku",
          "searchCriteria[filter_groups][0][filters][0][value]": "MH01%",
          "searchCriteria[filter_groups][0][filters][0][condition_type]": "like",
          "searchCriteria[sortOrders][0][field]": "price", "searchCriteria[sortOrders][0][direction]": "DESC",
          "searchCriteria[pageSize]": "50", "searchCriteria[currentPage]": "1"}
SKUS = ("MH01", "MH01-XS-Black", "24-MB01", "24-WG080", "24-WG085_Group", "240-LV04", "24-WG081-blue")


async def drive(sim: Client, method: str, path: str, url: str, **kwargs: object) -> dict | list:
    r = await sim.call(method, url, **kwargs)
    DRIVEN.add((method, path))
    return check(method, path, r)


async def test_product_search_answers_match_the_model(sim: Client) -> None:
    body = await drive(sim, "GET", "/V1/products", "/V1/products", params=SEARCH)
    assert body["total_count"] == 1 + 15 and len(body["items"]) == 16
    everything = await drive(sim, "GET", "/V1/products", "/V1/products", params={"searchCriteria": ""})
    assert everything["total_count"] == len(everything["items"]) == 2046
    assert {i["type_id"] for i in everything["items"]} == {"simple", "configurable", "bundle", "grouped",
                                                           "downloadable"}


@pytest.mark.parametrize("sku", SKUS)
async def test_each_kind_of_product_matches_the_model(sim: Client, sku: str) -> None:
    for store in ("/V1", "/rest/default/V1", "/rest/eu_en/V1", "/rest/all/V1"):
        body = await drive(sim, "GET", "/V1/products/{sku}", f"{store}/products/{sku}")
        assert body["sku"] == sku


async def test_writes_answer_the_product(sim: Client) -> None:
    created = await drive(sim, "POST", "/V1/products", "/V1/products", json={"product": {
        "sku": "AMZ-1", "name": "Amazon test", "price": 12.5, "type_id": "simple", "attribute_set_id": 4,
        "custom_attributes": [{"attribute_code": "upc", "value": "012345678905"}],
        "extension_attributes": {"stock_item": {"qty": 7, "is_in_stock": True}, "website_ids": [1]}}})
    assert created["sku"] == "AMZ-1" and created["extension_attributes"]["stock_item"]["qty"] == 7
    updated = await drive(sim, "PUT", "/V1/products/{sku}", "/V1/products/AMZ-1",
                          json={"product": {"price": 11, "tier_prices": [{"customer_group_id": 0, "qty": 3,
                                                                          "value": 10}]}})
    assert updated["price"] == 11 and updated["tier_prices"][0]["value"] == 10


async def test_a_deletion_and_a_partial_listing_match_the_model(sim: Client) -> None:
    assert await drive(sim, "DELETE", "/V1/products/{sku}", "/rest/default/V1/products/24-MB01") is True
    skus = await drive(sim, "GET", "/V1/products", "/V1/products", params={
        "searchCriteria[pageSize]": "500", "searchCriteria[currentPage]": "1",
        "fields": "items[sku],search_criteria,total_count"})
    assert skus["total_count"] == 2045 and all(set(i) == {"sku"} for i in skus["items"])  # type: ignore[index]
    r = await sim.call("DELETE", "/V1/products/24-MB01")
    assert r.status_code == 404
    check("DELETE", "/V1/products/{sku}", r)


@pytest.mark.parametrize("path", ["/V1/store/websites", "/V1/store/storeGroups", "/V1/store/storeViews",
                                  "/V1/store/storeConfigs", "/V1/directory/currency"])
async def test_store_structure_matches_the_model(sim: Client, path: str) -> None:
    await drive(sim, "GET", path, path)


async def test_errors_match_the_model(sim: Client) -> None:
    for method, path, url, kwargs in [
        ("GET", "/V1/products/{sku}", "/V1/products/NOPE", {}),
        ("GET", "/V1/products", "/V1/products", {}),
        ("PUT", "/V1/products/{sku}", "/V1/products/MH01", {"json": {"product": {"price": "cheap"}}}),
        ("POST", "/V1/products", "/V1/products", {"json": {"product": {"name": "no sku"}}}),
    ]:
        r = await sim.call(method, url, **kwargs)
        assert r.status_code in (400, 404), r.text
        check(method, path, r)
    for op in OPERATIONS:
        if op.resource:
            r = await sim.client.request(op.method, op.path.replace("{sku}", "MH01"), json={"product": {"sku": "x"}})
            assert r.status_code == 401
            check(op.method, op.path, r)


async def test_customer_answers_match_the_model(sim: Client) -> None:
    customer = await drive(sim, "POST", "/V1/customers", "/V1/customers", json={"customer": {
        "email": "jane@example.com", "firstname": "Jane", "lastname": "Doe", "websiteId": 1,
        "addresses": [{"firstname": "Jane", "lastname": "Doe", "street": ["1 Main St"], "city": "Austin",
                       "postcode": "78701", "countryId": "US", "telephone": "555", "defaultShipping": True,
                       "region": {"regionCode": "TX", "region": "Texas", "regionId": 57}}]}})
    assert customer["id"] and customer["default_shipping"] == str(customer["addresses"][0]["id"])
    found = await drive(sim, "GET", "/V1/customers/search", "/V1/customers/search",
                        params=criteria(("email", "jane@example.com", "eq")))
    assert [c["id"] for c in found["items"]] == [customer["id"]]
    again = await drive(sim, "GET", "/V1/customers/{customerId}", f"/V1/customers/{customer['id']}")
    assert again == customer
    for method, path, url, kwargs in [
        ("GET", "/V1/customers/{customerId}", "/V1/customers/999", {}),
        ("POST", "/V1/customers", "/V1/customers", {"json": {"customer": {"email": "jane@example.com",
                                                                          "firstname": "J", "lastname": "D"}}}),
    ]:
        r = await sim.call(method, url, **kwargs)
        assert r.status_code in (400, 404)
        check(method, path, r)


async def test_order_answers_match_the_model(sim: Client) -> None:
    order = await drive(sim, "POST", "/V1/orders", "/V1/orders", json=amazon_order("111-1"))
    other = await drive(sim, "PUT", "/V1/orders/create", "/rest/eu_en/V1/orders/create",
                        json=amazon_order("111-2", store_id=2))
    assert other["store_id"] == 2 and other["order_currency_code"] == "EUR"
    oid = order["entity_id"]
    assert (await drive(sim, "GET", "/V1/orders/{id}", f"/V1/orders/{oid}"))["ext_order_id"] == "111-1"
    found = await drive(sim, "GET", "/V1/orders", "/V1/orders", params=criteria(("ext_order_id", "111-1", "eq")))
    assert found["total_count"] == 1
    assert await drive(sim, "POST", "/V1/orders/{id}/comments", f"/V1/orders/{oid}/comments", json={
        "statusHistory": {"comment": "Imported from Amazon", "is_customer_notified": 0, "is_visible_on_front": 0,
                          "parent_id": oid}}) is True
    assert await drive(sim, "POST", "/V1/orders/{id}/hold", f"/V1/orders/{oid}/hold") is True
    assert await drive(sim, "POST", "/V1/orders/{id}/unhold", f"/V1/orders/{oid}/unhold") is True
    assert await drive(sim, "POST", "/V1/orders/{id}/cancel", f"/V1/orders/{other['entity_id']}/cancel") is True
    assert await drive(sim, "POST", "/V1/orders/{id}/cancel", f"/V1/orders/{other['entity_id']}/cancel") is False
    invoice = await drive(sim, "POST", "/V1/order/{orderId}/invoice", f"/V1/order/{oid}/invoice",
                          json={"capture": True, "notify": False})
    assert isinstance(invoice, int)
    shipment_id = await drive(sim, "POST", "/V1/order/{orderId}/ship", f"/V1/order/{oid}/ship", json={
        "items": [{"order_item_id": order["items"][0]["item_id"], "qty": 2}],
        "tracks": [{"carrier_code": "ups", "title": "UPS", "track_number": "1Z999"}],
        "comment": {"comment": "left the warehouse", "is_visible_on_front": 0}})
    shipment = await drive(sim, "GET", "/V1/shipment/{id}", f"/V1/shipment/{shipment_id}")
    assert shipment["tracks"][0]["track_number"] == "1Z999"
    listed = await drive(sim, "GET", "/V1/shipments", "/V1/shipments", params=criteria(("order_id", str(oid), "eq")))
    assert [s["entity_id"] for s in listed["items"]] == [shipment_id]
    warehouse = (await sim.client.post(f"/_sim/orders/{oid}/ship", json={})).json()
    assert warehouse["tracks"] and (await sim.client.get(f"/_sim/orders/{oid}")).json()["state"] == "complete"
    bag = (await sim.call("GET", "/V1/products/24-MB03")).json()
    item_id = bag["extension_attributes"]["stock_item"]["item_id"]
    assert await drive(sim, "PUT", "/V1/products/{productSku}/stockItems/{itemId}",
                       f"/V1/products/24-MB03/stockItems/{item_id}",
                       json={"stockItem": {"qty": 5, "is_in_stock": True}}) == item_id


async def test_sales_errors_match_the_model(sim: Client) -> None:
    oid = (await sim.call("POST", "/V1/orders", json=amazon_order())).json()["entity_id"]
    for method, path, url, kwargs in [
        ("GET", "/V1/orders/{id}", "/V1/orders/999", {}),
        ("POST", "/V1/orders", "/V1/orders", {"json": {"entity": {"customer_email": "x@y.z"}}}),
        ("POST", "/V1/orders", "/V1/orders", {"json": amazon_order(lines=(("NOPE", 1, 1),))}),
        ("PUT", "/V1/orders/create", "/V1/orders/create", {"json": amazon_order(lines=(("24-MB01", 1000, 1),))}),
        ("POST", "/V1/orders/{id}/unhold", f"/V1/orders/{oid}/unhold", {}),
        ("POST", "/V1/orders/{id}/hold", "/V1/orders/999/hold", {}),
        ("POST", "/V1/orders/{id}/comments", f"/V1/orders/{oid}/comments", {"json": {}}),
        ("POST", "/V1/order/{orderId}/invoice", f"/V1/order/{oid}/invoice", {"json": {"items": [
            {"order_item_id": 999, "qty": 1}]}}),
        ("POST", "/V1/order/{orderId}/ship", f"/V1/order/{oid}/ship", {"json": {"tracks": [{"title": "UPS"}]}}),
        ("GET", "/V1/shipment/{id}", "/V1/shipment/999", {}),
        ("GET", "/V1/shipments", "/V1/shipments", {}),
        ("PUT", "/V1/products/{productSku}/stockItems/{itemId}", "/V1/products/NOPE/stockItems/1",
         {"json": {"stockItem": {"qty": 1}}}),
    ]:
        r = await sim.call(method, url, **kwargs)
        assert r.status_code in (400, 404), (url, r.text)
        check(method, path, r)


def test_every_served_operation_is_driven_and_is_in_the_model() -> None:
    served = {(op.method, op.path) for op in OPERATIONS}
    for method, path in served:
        assert model.operation(method, path)["operationId"] == next(
            op.operation_id for op in OPERATIONS if (op.method, op.path) == (method, path))
    if not DRIVEN:
        pytest.skip("run with the wire tests above it: they record the operations they drive")
    assert served <= DRIVEN, f"served but driven by no wire test: {sorted(served - DRIVEN)}"
