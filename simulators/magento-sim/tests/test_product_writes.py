"""Product writes as Commerce makes them: one product per SKU, required attributes and a free URL key to create,
unknown attribute codes dropped without a word, new products on the addressed store's website."""

from __future__ import annotations

from magento_sim.testing import check

from .conftest import Client


def attributes(product: dict) -> dict[str, str]:
    return {a["attribute_code"]: a["value"] for a in product["custom_attributes"]}


def tote(sku: str = "AMZ-TOTE", **fields: object) -> dict:
    return {"product": {"sku": sku, "name": "Amazon Canvas Tote", "price": 19.99, "type_id": "simple",
                        "attribute_set_id": 4, "status": 2, "visibility": 4, **fields}}


async def test_a_second_post_of_a_sku_saves_over_the_product_it_does_not_make_another(sim: Client) -> None:
    first = check("POST", "/V1/products", await sim.call("POST", "/V1/products", json=tote()))
    again = check("POST", "/V1/products", await sim.call("POST", "/V1/products", json=tote(price=17)))
    assert again["id"] == first["id"] and again["price"] == 17
    found = (await sim.call("GET", "/V1/products", params={
        "searchCriteria[filter_groups][0][filters][0][field]": "sku",
        "searchCriteria[filter_groups][0][filters][0][value]": "AMZ-TOTE"})).json()
    assert found["total_count"] == 1
    assert attributes(first)["url_key"] == "amazon-canvas-tote"


async def test_unknown_attribute_codes_are_dropped_known_ones_kept(sim: Client) -> None:
    written = [{"attribute_code": "amazon_asin", "value": "B000TEST01"},
               {"attribute_code": "amazon_bullet_points", "value": "Roomy"}]
    created = (await sim.call("POST", "/V1/products", json=tote(custom_attributes=written))).json()
    assert attributes(created)["amazon_asin"] == "B000TEST01" and "amazon_bullet_points" not in attributes(created)
    r = await sim.call("PUT", "/V1/products/24-MB01", json={"product": {"custom_attributes": [
        {"attribute_code": "no_such_code", "value": "x"}, {"attribute_code": "ean", "value": "4006381333931"}]}})
    assert r.status_code == 200 and "no_such_code" not in attributes(r.json())
    assert attributes(r.json())["ean"] == "4006381333931"


async def test_creating_needs_a_name_and_a_price(sim: Client) -> None:
    nameless = tote()
    del nameless["product"]["name"]
    r = await sim.call("POST", "/V1/products", json=nameless)
    assert r.status_code == 400 and check("POST", "/V1/products", r) == {
        "message": 'The "%1" attribute value is empty. Set the attribute and try again.',
        "parameters": [{"1": "Product Name"}]}
    r = await sim.call("PUT", "/V1/products/AMZ-NEW", json={"product": {"name": "Priceless", "type_id": "simple"}})
    assert r.status_code == 400 and r.json()["parameters"] == [{"1": "Price"}]
    assert (await sim.call("GET", "/V1/products/AMZ-NEW")).status_code == 404
    assert (await sim.call("PUT", "/V1/products/24-MB01", json={"product": {"price": 33}})).status_code == 200


async def test_a_new_visible_product_needs_a_url_key_no_other_has(sim: Client) -> None:
    r = await sim.call("POST", "/V1/products", json=tote("AMZ-BAG", name="Joust Duffle Bag"))
    assert r.status_code == 400 and check("POST", "/V1/products", r) == {
        "message": "URL key for specified store already exists."}
    assert (await sim.call("POST", "/V1/products", json=tote("AMZ-BAG-2", name="Joust Duffle Bag", custom_attributes=[
        {"attribute_code": "url_key", "value": "joust-duffle-bag-amazon"}]))).status_code == 200
    assert (await sim.call("POST", "/V1/products", json=tote("AMZ-BAG-3", name="Joust Duffle Bag",
                                                             visibility=1))).status_code == 200
    assert (await sim.call("POST", "/V1/products", json=tote("AMZ-TOTE-2"))).status_code == 200
    assert (await sim.call("POST", "/V1/products", json=tote("AMZ-TOTE-3"))).status_code == 400


async def test_a_new_product_is_on_the_website_of_the_store_it_is_written_through(sim: Client) -> None:
    default = (await sim.call("POST", "/rest/default/V1/products", json=tote("AMZ-US", name="US"))).json()
    eu = (await sim.call("POST", "/rest/eu_en/V1/products", json=tote("AMZ-EU", name="EU", price=18))).json()
    everywhere = (await sim.call("POST", "/rest/all/V1/products", json=tote("AMZ-ALL", name="All"))).json()
    chosen = (await sim.call("POST", "/rest/eu_en/V1/products", json=tote(
        "AMZ-CHOSEN", name="Chosen", extension_attributes={"website_ids": [1]}))).json()
    assert [p["extension_attributes"]["website_ids"] for p in (default, eu, everywhere, chosen)] == [
        [1], [2], [1, 2], [1]]
    assert eu["price"] == 18 and (await sim.call("GET", "/V1/products/AMZ-EU")).json()["price"] == 18
    await sim.call("PUT", "/rest/eu_en/V1/products/AMZ-EU", json={"product": {"price": 16}})
    assert (await sim.call("GET", "/rest/eu_en/V1/products/AMZ-EU")).json()["price"] == 16
    assert (await sim.call("GET", "/V1/products/AMZ-EU")).json()["price"] == 18


async def test_a_deleted_products_url_key_is_free_again(sim: Client) -> None:
    assert (await sim.call("POST", "/V1/products", json=tote("AMZ-BAG", name="Joust Duffle Bag"))).status_code == 400
    assert (await sim.call("DELETE", "/V1/products/24-MB01")).status_code == 200
    again = await sim.call("POST", "/V1/products", json=tote("AMZ-BAG", name="Joust Duffle Bag"))
    assert again.status_code == 200 and attributes(again.json())["url_key"] == "joust-duffle-bag"
    assert (await sim.call("POST", "/V1/products", json=tote("AMZ-BAG-2", name="Joust Duffle Bag"))).status_code == 400
