"""The integration token, Magento's 401 body, unknown routes and store codes, and website-scoped prices."""

from __future__ import annotations

from .conftest import Client

UNAUTHORIZED = {"message": "The consumer isn't authorized to access %resources.",
                "parameters": [{"resources": "Magento_Catalog::products"}]}


async def test_a_missing_or_wrong_token_gets_magentos_401(sim: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic magento-sim-token"}):
        r = await sim.client.get("/V1/products/MH01", headers=headers)
        assert (r.status_code, r.json()) == (401, UNAUTHORIZED)
    r = await sim.client.get("/V1/store/websites")
    assert r.status_code == 401 and r.json()["parameters"] == [{"resources": "Magento_Backend::stores"}]
    assert (await sim.client.get("/V1/directory/currency")).status_code == 200  # anonymous in Commerce too
    stats = (await sim.client.get("/_sim/stats")).json()["operations"]
    assert stats["GetV1ProductsSku"] == {"calls": 3, "401": 3}


async def test_unknown_routes_and_store_codes(sim: Client) -> None:
    r = await sim.call("GET", "/V1/nothing-here")
    assert (r.status_code, r.json()) == (404, {"message": "Request does not match any route."})
    r = await sim.call("GET", "/rest/nowhere/V1/products/MH01")
    assert r.status_code == 400 and r.json() == {"message": "Specified request cannot be processed."}


async def test_prices_are_per_website(sim: Client) -> None:
    us = (await sim.call("GET", "/rest/default/V1/products/24-MB01")).json()
    eu = (await sim.call("GET", "/rest/eu_en/V1/products/24-MB01")).json()
    assert (us["price"], eu["price"]) == (34, 30.99)
    r = await sim.call("PUT", "/rest/eu_en/V1/products/24-MB01", json={"product": {"price": 29.5}})
    assert r.json()["price"] == 29.5
    assert (await sim.call("GET", "/V1/products/24-MB01")).json()["price"] == 34
    assert (await sim.call("GET", "/rest/eu_en/V1/products/24-MB01")).json()["price"] == 29.5
    r = await sim.call("GET", "/rest/eu_en/V1/products", params={
        "searchCriteria[filter_groups][0][filters][0][field]": "price",
        "searchCriteria[filter_groups][0][filters][0][value]": "29.5",
        "searchCriteria[filter_groups][0][filters][0][condition_type]": "eq"})
    assert [i["sku"] for i in r.json()["items"]] == ["24-MB01"]


async def test_store_configs_and_currency(sim: Client) -> None:
    configs = (await sim.call("GET", "/V1/store/storeConfigs")).json()
    assert [(c["code"], c["base_currency_code"], c["default_display_currency_code"]) for c in configs] == [
        ("default", "USD", "USD"), ("eu_en", "EUR", "EUR")]
    only = (await sim.call("GET", "/V1/store/storeConfigs", params={"storeCodes[]": "eu_en"})).json()
    assert [c["code"] for c in only] == ["eu_en"]
    websites = (await sim.call("GET", "/V1/store/websites")).json()
    assert [w["code"] for w in websites] == ["admin", "base", "eu"]
    currency = (await sim.call("GET", "/V1/directory/currency")).json()
    assert currency["base_currency_code"] == "USD"
    assert {r["currency_to"]: r["rate"] for r in currency["exchange_rates"]}["EUR"] == 0.92
    eu = (await sim.call("GET", "/rest/eu_en/V1/directory/currency")).json()
    assert eu["base_currency_code"] == "EUR" and eu["base_currency_symbol"] == "€"
