"""searchListingsItems as the listing import uses it: paging to the end, the 1000-SKU limit, includedData.

Every answer is checked against the model's ItemSearchResults (or ErrorList) schema.
"""

from __future__ import annotations

from typing import Any

import pytest

from amazon_sim import schemas
from amazon_sim.listings import INCLUDED_DATA
from amazon_sim.testing import DE, SELLER, US, Sim, check

L = schemas.LISTINGS
BASE = f"/listings/2021-08-01/items/{SELLER}"


def simulator(sim: Sim) -> Any:
    return sim.client._transport.app.state.sim  # type: ignore[attr-defined]


def seed(sim: Sim, n: int, marketplaces: list[str] | None = None, prefix: str = "S") -> list[str]:
    """n listings straight into the simulator's state (an admin PUT each would only be slower)."""
    state = simulator(sim)
    skus = [f"{prefix}-{i:04d}" for i in range(n)]
    for i, sku in enumerate(skus):
        issues = state.listings.put(SELLER, sku, "HOME", None, {
            "item_name": [{"value": f"Item {i}", "marketplace_id": US}],
            "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                                   "our_price": [{"schedule": [{"value_with_tax": 10 + i}]}]}],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": i % 3}]},
            marketplaces or [US], state.now() + i)
        assert not issues
    return skus


async def page_through(sim: Sim, params: dict[str, str]) -> tuple[list[dict[str, Any]], list[int]]:
    """Every item following nextToken, and the numberOfResults each page reported."""
    items: list[dict[str, Any]] = []
    totals: list[int] = []
    params = dict(params)
    while True:
        body = check(L, "searchListingsItems", await sim.call("GET", BASE, params=params))
        items += body["items"]
        totals.append(body["numberOfResults"])
        token = body.get("pagination", {}).get("nextToken")
        if not token:
            return items, totals
        params["pageToken"] = token


@pytest.fixture(autouse=True)
async def no_rate_limits(sim: Sim) -> None:
    await sim.client.post("/_sim/ratelimits", json={"enabled": False})


async def test_number_of_results_counts_every_match_but_paging_stops_at_1000(sim: Sim) -> None:
    skus = seed(sim, 1013)
    items, totals = await page_through(sim, {"marketplaceIds": US, "sortBy": "sku", "sortOrder": "ASC",
                                             "pageSize": "20"})
    assert set(totals) == {1013}
    assert [i["sku"] for i in items] == skus[:1000]
    assert len(totals) == 50


async def test_pages_are_exact_and_previous_token_goes_back(sim: Sim) -> None:
    skus = seed(sim, 7)
    params = {"marketplaceIds": US, "sortBy": "sku", "sortOrder": "DESC", "pageSize": "3"}
    first = check(L, "searchListingsItems", await sim.call("GET", BASE, params=params))
    assert [i["sku"] for i in first["items"]] == skus[::-1][:3]
    assert "previousToken" not in first["pagination"]
    second = check(L, "searchListingsItems", await sim.call("GET", BASE, params={
        **params, "pageToken": first["pagination"]["nextToken"]}))
    assert [i["sku"] for i in second["items"]] == skus[::-1][3:6]
    back = check(L, "searchListingsItems", await sim.call("GET", BASE, params={
        **params, "pageToken": second["pagination"]["previousToken"]}))
    assert back["items"] == first["items"]
    last = check(L, "searchListingsItems", await sim.call("GET", BASE, params={
        **params, "pageToken": second["pagination"]["nextToken"]}))
    assert [i["sku"] for i in last["items"]] == skus[:1] and "nextToken" not in last["pagination"]
    empty = check(L, "searchListingsItems", await sim.call("GET", BASE, params={"marketplaceIds": DE}))
    assert empty == {"numberOfResults": 0, "items": []}


async def test_included_data_decides_what_each_item_carries(sim: Sim) -> None:
    seed(sim, 2, marketplaces=[US, DE])
    default = check(L, "searchListingsItems", await sim.call("GET", BASE, params={"marketplaceIds": US}))
    assert all(set(i) == {"sku", "summaries"} for i in default["items"])
    assert all([s["marketplaceId"] for s in i["summaries"]] == [US] for i in default["items"])
    everything = check(L, "searchListingsItems", await sim.call("GET", BASE, params={
        "marketplaceIds": US, "includedData": ",".join(INCLUDED_DATA), "sortBy": "sku", "sortOrder": "ASC"}))
    first = everything["items"][0]
    assert set(first) == {"sku", *INCLUDED_DATA}
    assert first["offers"][0]["price"] == {"currencyCode": "USD", "amount": "10.00"}
    assert first["fulfillmentAvailability"] == [{"fulfillmentChannelCode": "DEFAULT", "quantity": 0}]
    assert first["summaries"][0]["status"] == ["DISCOVERABLE"]  # nothing to sell: not BUYABLE
    assert everything["items"][1]["summaries"][0]["status"] == ["BUYABLE", "DISCOVERABLE"]


@pytest.mark.parametrize("params", [
    {"pageToken": "not-a-token!"},
    {"pageSize": "0"},
    {"pageSize": "many"},
    {"includedData": "summaries,prices"},
    {"sortBy": "price"},
    {"createdAfter": "yesterday"},
])
async def test_bad_search_parameters_are_refused_in_amazons_error_shape(sim: Sim, params: dict[str, str]) -> None:
    r = await sim.call("GET", BASE, params={"marketplaceIds": US, **params})
    assert r.status_code == 400
    assert check(L, "searchListingsItems", r)["errors"][0]["code"] == "InvalidInput"


async def test_search_needs_a_marketplace_the_seller_sells_in(sim: Sim) -> None:
    r = await sim.call("GET", BASE)
    assert r.status_code == 400 and check(L, "searchListingsItems", r)
    r = await sim.call("GET", BASE, params={"marketplaceIds": "A1VC38T7YXB528"})  # JP: not this seller's
    assert r.status_code == 403 and check(L, "searchListingsItems", r)
