from __future__ import annotations

from amazon_sim import schemas
from amazon_sim.testing import DE, SELLER, US, Sim, check

L = schemas.LISTINGS
BASE = f"/listings/2021-08-01/items/{SELLER}"


def offer(price: float, qty: int) -> dict:
    return {
        "item_name": [{"value": "Blue mug", "language_tag": "en_US", "marketplace_id": US}],
        "condition_type": [{"value": "new_new", "marketplace_id": US}],
        "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                               "our_price": [{"schedule": [{"value_with_tax": price}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": qty}],
    }


async def put(sim: Sim, sku: str, price: float = 15.0, qty: int = 10, **params: str):
    return await sim.call("PUT", f"{BASE}/{sku}", params={"marketplaceIds": US, **params},
                          json={"productType": "HOME", "requirements": "LISTING", "attributes": offer(price, qty)})


def price_patch(price: float) -> dict:
    return {"productType": "HOME", "patches": [{"op": "replace", "path": "/attributes/purchasable_offer", "value": [
        {"marketplace_id": US, "currency": "USD", "our_price": [{"schedule": [{"value_with_tax": price}]}]}]}]}


def qty_patch(qty: int) -> dict:
    return {"productType": "HOME", "patches": [{"op": "replace", "path": "/attributes/fulfillment_availability",
                                                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": qty}]}]}


async def test_put_get_patch_delete_round_trip(sim: Sim) -> None:
    body = check(L, "putListingsItem", await put(sim, "MUG-1", includedData="identifiers,issues"))
    assert body["status"] == "ACCEPTED" and body["issues"] == [] and body["identifiers"][0]["asin"]

    r = await sim.call("GET", f"{BASE}/MUG-1", params={"marketplaceIds": US, "includedData": ",".join(
        ["summaries", "attributes", "issues", "offers", "fulfillmentAvailability", "procurement", "relationships",
         "productTypes"])})
    item = check(L, "getListingsItem", r)
    assert item["offers"][0]["price"] == {"currencyCode": "USD", "amount": "15.00"}
    assert item["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "DEFAULT", "quantity": 10}]
    assert item["summaries"][0]["status"] == ["BUYABLE", "DISCOVERABLE"]
    assert item["summaries"][0]["itemName"] == "Blue mug"

    r = await sim.call("PATCH", f"{BASE}/MUG-1", params={"marketplaceIds": US}, json=price_patch(12.5))
    assert check(L, "patchListingsItem", r)["status"] == "ACCEPTED"
    r = await sim.call("PATCH", f"{BASE}/MUG-1", params={"marketplaceIds": US}, json=qty_patch(0))
    assert check(L, "patchListingsItem", r)["status"] == "ACCEPTED"
    state = (await sim.client.get(f"/_sim/listings/{SELLER}/MUG-1")).json()
    assert state["prices"] == {US: "12.50"} and state["quantity"] == 0 and state["status"] == ["DISCOVERABLE"]

    r = await sim.call("PATCH", f"{BASE}/MUG-1", params={"marketplaceIds": US}, json={
        "productType": "HOME", "patches": [{"op": "delete", "path": "/attributes/condition_type"}]})
    assert check(L, "patchListingsItem", r)["status"] == "ACCEPTED"
    assert "condition_type" not in (await sim.client.get(f"/_sim/listings/{SELLER}/MUG-1")).json()["attributes"]

    r = await sim.call("DELETE", f"{BASE}/MUG-1", params={"marketplaceIds": US})
    assert check(L, "deleteListingsItem", r)["status"] == "ACCEPTED"
    r = await sim.call("GET", f"{BASE}/MUG-1", params={"marketplaceIds": US})
    assert r.status_code == 404
    check(L, "getListingsItem", r)
    assert (await sim.client.get(f"/_sim/listings/{SELLER}/MUG-1")).status_code == 404


async def test_invalid_values_and_unknown_sku_are_invalid(sim: Sim) -> None:
    body = check(L, "putListingsItem", await put(sim, "BAD", price=-1))
    assert body["status"] == "INVALID" and body["issues"][0]["attributeNames"] == ["purchasable_offer"]
    r = await sim.call("PATCH", f"{BASE}/NOPE", params={"marketplaceIds": US}, json=qty_patch(3))
    assert check(L, "patchListingsItem", r)["status"] == "INVALID"
    r = await sim.call("PATCH", f"{BASE}/NOPE", params={"marketplaceIds": US, "includedData": "identifiers"},
                       json=qty_patch(3))
    check(L, "patchListingsItem", r)
    await put(sim, "MUG-2")
    r = await sim.call("PATCH", f"{BASE}/MUG-2", params={"marketplaceIds": US}, json={
        "productType": "HOME", "patches": [{"op": "replace", "path": "/attributes/purchasable_offer/0", "value": []}]})
    assert check(L, "patchListingsItem", r)["status"] == "INVALID"


async def test_validation_preview_does_not_change_state(sim: Sim) -> None:
    await put(sim, "MUG-3", price=10)
    r = await sim.call("PATCH", f"{BASE}/MUG-3", params={"marketplaceIds": US, "mode": "VALIDATION_PREVIEW"},
                       json=price_patch(99))
    assert check(L, "patchListingsItem", r)["status"] == "VALID"
    assert (await sim.client.get(f"/_sim/listings/{SELLER}/MUG-3")).json()["prices"] == {US: "10.00"}


async def test_bad_request_bodies_name_the_field(sim: Sim) -> None:
    r = await sim.call("PUT", f"{BASE}/X", params={"marketplaceIds": US}, json={"attributes": {}})
    assert r.status_code == 400
    body = check(L, "putListingsItem", r)
    assert "productType" in body["errors"][0]["message"]
    r = await sim.call("PATCH", f"{BASE}/X", params={"marketplaceIds": US},
                       json={"productType": "HOME", "patches": [{"op": "upsert", "path": "/attributes/x"}]})
    assert r.status_code == 400
    assert "patches/0/op" in check(L, "patchListingsItem", r)["errors"][0]["message"]
    r = await sim.call("PATCH", f"{BASE}/X", params={"marketplaceIds": US}, content=b"{not json")
    assert r.status_code == 400
    check(L, "patchListingsItem", r)
    r = await sim.call("PUT", f"{BASE}/X", json={"productType": "HOME", "attributes": {}})
    assert r.status_code == 400 and "marketplaceIds" in check(L, "putListingsItem", r)["errors"][0]["message"]
    r = await sim.call("DELETE", f"{BASE}/X", params={"marketplaceIds": f"{US},{DE}"})
    assert r.status_code == 400
    check(L, "deleteListingsItem", r)


async def test_other_sellers_listings_are_forbidden(sim: Sim) -> None:
    r = await sim.call("GET", "/listings/2021-08-01/items/A2OTHERSELLER/X", params={"marketplaceIds": US})
    assert r.status_code == 403
    check(L, "getListingsItem", r)


async def test_search_filters_sorts_and_pages(sim: Sim) -> None:
    await sim.client.post("/_sim/ratelimits", json={"enabled": False})
    for i in range(25):
        await sim.client.put(f"/_sim/listings/{SELLER}/SKU-{i:02d}", json={
            "productType": "HOME", "attributes": offer(10 + i, i % 2), "marketplaceIds": [US]})
    seen = []
    params = {"marketplaceIds": US, "sortBy": "sku", "sortOrder": "ASC", "pageSize": "10",
              "includedData": "summaries,offers,fulfillmentAvailability"}
    while True:
        body = check(L, "searchListingsItems", await sim.call("GET", BASE, params=params))
        assert body["numberOfResults"] == 25
        seen += [i["sku"] for i in body["items"]]
        token = body.get("pagination", {}).get("nextToken")
        if not token:
            break
        params["pageToken"] = token
    assert seen == [f"SKU-{i:02d}" for i in range(25)]
    body = check(L, "searchListingsItems", await sim.call("GET", BASE, params={
        "marketplaceIds": US, "withStatus": "BUYABLE"}))
    assert body["numberOfResults"] == 12
    body = check(L, "searchListingsItems", await sim.call("GET", BASE, params={
        "marketplaceIds": US, "identifiers": "SKU-03,SKU-04", "identifiersType": "SKU"}))
    assert sorted(i["sku"] for i in body["items"]) == ["SKU-03", "SKU-04"]
    r = await sim.call("GET", BASE, params={"marketplaceIds": US, "identifiers": "SKU-03"})
    assert r.status_code == 400
    check(L, "searchListingsItems", r)
    r = await sim.call("GET", BASE, params={"marketplaceIds": US, "pageSize": "21"})
    assert r.status_code == 400


async def test_put_validation_preview_and_listing_rate_limit(sim: Sim) -> None:
    body = check(L, "putListingsItem", await put(sim, "PRE", mode="VALIDATION_PREVIEW"))
    assert body["status"] == "VALID"
    assert (await sim.client.get(f"/_sim/listings/{SELLER}/PRE")).status_code == 404
    await put(sim, "LIM")
    codes = [(await sim.call("PATCH", f"{BASE}/LIM", params={"marketplaceIds": US}, json=qty_patch(i))).status_code
             for i in range(6)]
    assert codes == [200] * 5 + [429]  # patchListingsItem: 5 rps, burst 5
    r = await sim.call("PATCH", f"{BASE}/LIM", params={"marketplaceIds": US}, json=qty_patch(1))
    assert r.headers["x-amzn-RateLimit-Limit"] == "5"
    assert check(L, "patchListingsItem", r)["errors"][0]["code"] == "QuotaExceeded"
    await sim.client.post("/_sim/clock/advance", json={"seconds": 0.2})  # one token back
    r = await sim.call("PATCH", f"{BASE}/LIM", params={"marketplaceIds": US}, json=qty_patch(2))
    assert r.status_code == 200
    assert (await sim.client.get(f"/_sim/listings/{SELLER}/LIM")).json()["quantity"] == 2
