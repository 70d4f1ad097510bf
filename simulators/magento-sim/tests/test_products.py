"""Product shapes seeded from the sample data, and writes: custom attributes, stock, website IDs, links."""

from __future__ import annotations

from .conftest import Client


def attributes(product: dict) -> dict[str, str]:
    return {a["attribute_code"]: a["value"] for a in product["custom_attributes"]}


async def test_a_configurable_parent_links_its_children(sim: Client) -> None:
    parent = (await sim.call("GET", "/V1/products/MH01")).json()
    links = parent["extension_attributes"]["configurable_product_links"]
    assert len(links) == 15 and parent["type_id"] == "configurable" and parent["visibility"] == 4
    assert [o["label"] for o in parent["extension_attributes"]["configurable_product_options"]] == ["Size", "Color"]
    child = (await sim.call("GET", "/V1/products/MH01-XS-Black")).json()
    assert child["id"] in links and child["visibility"] == 1 and child["price"] == 52
    assert child["extension_attributes"]["stock_item"]["qty"] == 100
    assert {"size", "color", "upc", "cost"} <= attributes(child).keys() and len(attributes(child)["upc"]) == 12


async def test_other_kinds_and_prices(sim: Client) -> None:
    bundle = (await sim.call("GET", "/V1/products/24-WG080")).json()
    assert len(bundle["extension_attributes"]["bundle_product_options"]) == 4
    grouped = (await sim.call("GET", "/V1/products/24-WG085_Group")).json()
    assert [link["linked_product_sku"] for link in grouped["product_links"]] == ["24-WG085", "24-WG086", "24-WG087"]
    video = (await sim.call("GET", "/V1/products/240-LV05")).json()
    assert video["extension_attributes"]["downloadable_product_links"][0]["price"] == 14
    bag = (await sim.call("GET", "/V1/products/24-WB05")).json()
    assert float(attributes(bag)["special_price"]) == 24 and bag["price"] == 32
    jacket = (await sim.call("GET", "/V1/products/WJ01")).json()
    assert float(attributes(jacket)["msrp"]) == 79.99
    bag1 = (await sim.call("GET", "/V1/products/24-MB01")).json()
    assert bag1["tier_prices"] == [{"customer_group_id": 32000, "qty": 5.0, "value": 30.6,
                                    "extension_attributes": {"website_id": 0}}]


async def test_put_merges_and_bumps_updated_at(sim: Client) -> None:
    before = (await sim.call("GET", "/V1/products/24-MB01")).json()
    r = await sim.call("PUT", "/V1/products/24-MB01", json={"product": {
        "custom_attributes": [{"attribute_code": "amazon_asin", "value": "B000TEST01"},
                              {"attribute_code": "special_from_date", "value": "2024-01-01 00:00:00"}],
        "extension_attributes": {"stock_item": {"qty": 4, "is_in_stock": True}, "website_ids": [1]}}})
    after = r.json()
    assert r.status_code == 200 and after["updated_at"] > before["updated_at"]
    assert after["name"] == before["name"] and after["price"] == before["price"]
    assert attributes(after)["amazon_asin"] == "B000TEST01" and attributes(after)["cost"] == attributes(before)["cost"]
    assert after["extension_attributes"]["stock_item"]["qty"] == 4
    assert after["extension_attributes"]["website_ids"] == [1]


async def test_post_creates_and_links_children(sim: Client) -> None:
    child = (await sim.call("POST", "/V1/products", json={"product": {
        "sku": "NEW-CHILD", "name": "Child", "price": 10, "type_id": "simple", "visibility": 1}})).json()
    parent = await sim.call("POST", "/V1/products", json={"product": {
        "sku": "NEW-PARENT", "name": "Parent", "type_id": "configurable",
        "extension_attributes": {"configurable_product_links": [child["id"]]}}})
    assert parent.status_code == 200
    assert parent.json()["extension_attributes"]["configurable_product_links"] == [child["id"]]
    bad = await sim.call("PUT", "/V1/products/NEW-PARENT", json={"product": {
        "extension_attributes": {"configurable_product_links": [999999]}}})
    assert bad.status_code == 400
    r = await sim.call("POST", "/V1/products", content=b"{not json")
    assert r.status_code == 400 and r.json()["message"]


async def test_sim_admin_changes_a_product(sim: Client) -> None:
    r = await sim.client.patch("/_sim/products/24-MB01", json={
        "price": 31, "qty": 0, "is_in_stock": False, "custom_attributes": {"cost": "12.000000"},
        "website_prices": {"2": 28}})
    assert r.status_code == 200, r.text
    p = (await sim.call("GET", "/V1/products/24-MB01")).json()
    assert p["price"] == 31 and p["extension_attributes"]["stock_item"]["is_in_stock"] is False
    assert p["updated_at"] > "2024-03-06 10:00:00" and attributes(p)["cost"] == "12.000000"
    assert (await sim.call("GET", "/rest/eu_en/V1/products/24-MB01")).json()["price"] == 28
    r = await sim.client.put("/_sim/products/24-MB01", json={"product": {"name": "Renamed"}})
    assert r.json()["name"] == "Renamed"
    assert (await sim.client.patch("/_sim/products/NOPE", json={"price": 1})).status_code == 404
    assert (await sim.client.post("/_sim/reset")).json() == {"products": 2046}
    assert (await sim.call("GET", "/V1/products/24-MB01")).json()["price"] == 34
