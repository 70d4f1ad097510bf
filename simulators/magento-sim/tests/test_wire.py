"""Every answer the simulator gives, for every operation it serves, validates against that operation's response
schema in Adobe's published Commerce 2.4.8 model; and no operation is served without a test driving it."""

from __future__ import annotations

import pytest

from magento_sim import model
from magento_sim.api import OPERATIONS
from magento_sim.testing import check

from .conftest import Client

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


def test_every_served_operation_is_driven_and_is_in_the_model() -> None:
    served = {(op.method, op.path) for op in OPERATIONS}
    for method, path in served:
        assert model.operation(method, path)["operationId"] == next(
            op.operation_id for op in OPERATIONS if (op.method, op.path) == (method, path))
    if not DRIVEN:
        pytest.skip("run with the wire tests above it: they record the operations they drive")
    assert served <= DRIVEN, f"served but driven by no wire test: {sorted(served - DRIVEN)}"
