"""DELETE /V1/products/{sku}: the product and every link to it go, the deletion is pushed signed; and `fields=`
partial answers in Magento's syntax."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI, Request

from magento_sim import SimConfig, create_app, fields
from magento_sim.webhooks import ENTITY_HEADER, SIGNATURE_HEADER, signature

from .conftest import Client, criteria


async def test_a_deleted_product_is_gone_everywhere(sim: Client) -> None:
    before = (await sim.call("GET", "/V1/products", params={"searchCriteria": ""})).json()["total_count"]
    r = await sim.call("DELETE", "/rest/default/V1/products/24-MB01")
    assert r.status_code == 200 and r.json() is True
    assert (await sim.call("GET", "/V1/products/24-MB01")).status_code == 404
    listed = (await sim.call("GET", "/V1/products", params={"searchCriteria": ""})).json()
    assert listed["total_count"] == before - 1 and "24-MB01" not in {i["sku"] for i in listed["items"]}
    found = (await sim.call("GET", "/V1/products", params=criteria(("sku", "24-MB01", "eq")))).json()
    assert found["total_count"] == 0
    again = await sim.call("DELETE", "/V1/products/24-MB01")
    assert again.status_code == 404 and again.json()["message"].startswith("The product that was requested doesn't")


async def test_deleting_a_child_takes_it_out_of_its_configurable_and_a_new_product_gets_a_new_id(sim: Client) -> None:
    child = (await sim.call("GET", "/V1/products/MH01-XS-Black")).json()
    links = (await sim.call("GET", "/V1/products/MH01")).json()["extension_attributes"]["configurable_product_links"]
    assert child["id"] in links
    assert (await sim.call("DELETE", "/V1/products/MH01-XS-Black")).status_code == 200
    after = (await sim.call("GET", "/V1/products/MH01")).json()["extension_attributes"]["configurable_product_links"]
    assert after == [i for i in links if i != child["id"]]
    created = await sim.call("POST", "/V1/products", json={"product": {
        "sku": "MH01-XS-Black", "name": "Chaz Kangeroo Hoodie XS Black again", "price": 52, "attribute_set_id": 9,
        "visibility": 1, "type_id": "simple"}})
    assert created.status_code == 200, created.text
    assert created.json()["id"] > max(links)


async def test_deleting_a_bundle_part_and_a_related_product_drops_their_links(sim: Client) -> None:
    bundle = (await sim.call("GET", "/V1/products/24-WG080")).json()
    part = bundle["extension_attributes"]["bundle_product_options"][0]["product_links"][0]["sku"]
    assert (await sim.call("DELETE", f"/V1/products/{part}")).status_code == 200
    options = (await sim.call("GET", "/V1/products/24-WG080")).json()["extension_attributes"]["bundle_product_options"]
    assert part not in {link["sku"] for option in options for link in option["product_links"]}


async def test_the_deletion_is_pushed_signed_with_the_product_as_it_was() -> None:
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
        was = (await sim.call("GET", "/V1/products/24-MB02")).json()
        assert (await sim.call("DELETE", "/V1/products/24-MB02")).status_code == 200
        await app.state.sim.webhooks.drain()
    [(body, headers)] = received
    assert headers[SIGNATURE_HEADER.lower()] == signature("s3cret", body)
    assert headers[ENTITY_HEADER.lower()] == "product"
    assert json.loads(body) == {"entity": "product", "event": "deleted", "product": was}


async def test_fields_keeps_what_it_names_in_every_item(sim: Client) -> None:
    params = {**criteria(("sku", "24-MB0%", "like")), "fields": "items[sku,price,extension_attributes[website_ids],"
              "custom_attributes[upc]],total_count"}
    body = (await sim.call("GET", "/V1/products", params=params)).json()
    assert set(body) == {"items", "total_count"} and body["total_count"] == len(body["items"]) == 6
    first = body["items"][0]
    assert set(first) == {"sku", "price", "extension_attributes", "custom_attributes"}
    assert first["extension_attributes"] == {"website_ids": [1, 2]}
    assert [a["attribute_code"] for a in first["custom_attributes"]] == ["upc"]
    one = (await sim.call("GET", "/V1/products/MH01", params={"fields": "sku,type_id"})).json()
    assert one == {"sku": "MH01", "type_id": "configurable"}


@pytest.mark.parametrize("page", ["1", "3", "99"])
async def test_plain_fields_answer_exactly_what_the_full_rendering_filtered_would(sim: Client, page: str) -> None:
    wanted = "items[id,sku,name,price,status,type_id,updated_at],search_criteria,total_count"
    params = {"searchCriteria[pageSize]": "300", "searchCriteria[currentPage]": page}
    fast = (await sim.call("GET", "/V1/products", params={**params, "fields": wanted})).json()
    full = (await sim.call("GET", "/V1/products", params=params)).json()
    assert fast == fields.filtered(full, wanted) and len(fast["items"]) > 0


@pytest.mark.parametrize(("text", "tree"), [
    ("sku", {"sku": 1}),
    ("items[sku,extension_attributes[website_ids]],total_count",
     {"items": {"sku": 1, "extension_attributes": {"website_ids": 1}}, "total_count": 1}),
    ("items[sku", None), ("items]", None), ("sku name", None), ("items.sku", None),
])
def test_fields_are_read_as_magento_reads_them(text: str, tree: dict | None) -> None:
    assert fields.parse(text) == tree


async def test_a_fields_filter_magento_cannot_read_answers_an_empty_list(sim: Client) -> None:
    body = (await sim.call("GET", "/V1/products", params={"searchCriteria": "", "fields": "items[sku"})).json()
    assert body == []


async def test_a_deleted_product_frees_its_url_key_for_a_new_one(sim: Client) -> None:
    first = await sim.call("POST", "/V1/products", json={"product": {"sku": "NEW-1", "name": "Brand new bag",
                                                                     "price": 10, "attribute_set_id": 15}})
    assert first.status_code == 200, first.text  # the store's URL keys are known from here on
    assert (await sim.call("DELETE", "/V1/products/24-MB01")).status_code == 200
    again = await sim.call("POST", "/V1/products", json={"product": {"sku": "24-MB01-NEW", "name": "Joust Duffle Bag",
                                                                     "price": 34, "attribute_set_id": 15}})
    assert again.status_code == 200, again.text
