"""A Restricted Data Token's resources and dataElements decide what buyer and address data getOrders and getOrder
return; an access token gets none of it. Every answer is checked against ordersV0.json and tokens_2021-03-01.json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from amazon_sim import SimConfig, create_app, schemas
from amazon_sim.testing import ACCOUNT, SELLER, US, Sim, check

ORD = schemas.ORDERS
TOK = schemas.TOKENS
ORDERS = "/orders/v0/orders"
EPOCH = "2020-01-01T00:00:00Z"
OPEN_ADDRESS = {"City", "StateOrRegion", "PostalCode", "CountryCode"}


async def seed(sim: Sim, sku: str) -> None:
    r = await sim.client.put(f"/_sim/listings/{SELLER}/{sku}", json={"productType": "HOME", "attributes": {
        "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                               "our_price": [{"schedule": [{"value_with_tax": 20}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 50}]}})
    assert r.status_code == 200, r.text


async def place(sim: Sim, status: str = "Unshipped", channel: str = "MFN") -> str:
    r = await sim.client.post("/_sim/orders", json={"sellerId": SELLER, "lines": [{"sku": "R-1", "quantity": 1}],
                                                    "orderStatus": status, "fulfillmentChannel": channel})
    assert r.status_code == 201, r.text
    return str(r.json()["AmazonOrderId"])


async def rdt(sim: Sim, *resources: dict[str, Any]) -> dict[str, str]:
    r = await sim.call("POST", "/tokens/2021-03-01/restrictedDataToken",
                       json={"restrictedResources": list(resources)})
    assert r.status_code == 200, r.text
    token = check(TOK, "createRestrictedDataToken", r)["restrictedDataToken"]
    assert token.startswith("Atz.sprdt|")
    return {"x-amz-access-token": token}


def bulk(*elements: str) -> dict[str, Any]:
    return {"method": "GET", "path": ORDERS, "dataElements": list(elements)}


async def orders(sim: Sim, headers: dict[str, str] | None = None, **params: Any) -> dict[str, dict[str, Any]]:
    r = await sim.call("GET", ORDERS, params={"MarketplaceIds": US, "LastUpdatedAfter": EPOCH, **params},
                       headers=headers or {})
    assert r.status_code == 200, r.text
    return {o["AmazonOrderId"]: o for o in check(ORD, "getOrders", r)["payload"]["Orders"]}


@pytest.fixture
async def shop(sim: Sim) -> dict[str, str]:
    await seed(sim, "R-1")
    return {"unshipped": await place(sim), "pending": await place(sim, status="Pending"),
            "afn": await place(sim, channel="AFN")}


async def test_an_access_token_gets_no_buyer_data_and_only_the_open_part_of_the_address(
        sim: Sim, shop: dict[str, str]) -> None:
    listed = await orders(sim)
    single = check(ORD, "getOrder", await sim.call("GET", f"{ORDERS}/{shop['unshipped']}"))["payload"]
    for order in (listed[shop["unshipped"]], single):
        assert "BuyerInfo" not in order
        assert set(order["ShippingAddress"]) == OPEN_ADDRESS
    assert "ShippingAddress" not in listed[shop["pending"]]  # no address before payment clears, token or not


async def test_a_bulk_token_with_both_data_elements_gives_buyer_and_whole_address(
        sim: Sim, shop: dict[str, str]) -> None:
    token = await rdt(sim, bulk("buyerInfo", "shippingAddress"))
    listed = await orders(sim, token)
    mfn = listed[shop["unshipped"]]
    assert mfn["BuyerInfo"]["BuyerEmail"].endswith("@marketplace.amazon.com") and mfn["BuyerInfo"]["BuyerName"]
    assert mfn["ShippingAddress"]["Name"] == mfn["BuyerInfo"]["BuyerName"]
    assert mfn["ShippingAddress"]["AddressLine1"] and mfn["ShippingAddress"]["Phone"]
    assert OPEN_ADDRESS < set(mfn["ShippingAddress"])
    assert "Phone" not in listed[shop["afn"]]["ShippingAddress"]  # suppressed for orders Amazon fulfils
    assert "ShippingAddress" not in listed[shop["pending"]] and listed[shop["pending"]]["BuyerInfo"]

    first = await sim.call("GET", ORDERS, params={"MarketplaceIds": US, "LastUpdatedAfter": EPOCH,
                                                  "MaxResultsPerPage": 1}, headers=token)
    following = check(ORD, "getOrders", first)["payload"]["NextToken"]
    rest = await sim.call("GET", ORDERS, params={"MarketplaceIds": US, "NextToken": following}, headers=token)
    assert all("BuyerInfo" in o for o in check(ORD, "getOrders", rest)["payload"]["Orders"])  # pages share it


@pytest.mark.parametrize(("elements", "buyer", "whole_address"), [
    (["buyerInfo"], True, False),
    (["shippingAddress"], False, True),
    (["buyerTaxInformation"], False, False),
    ([], False, False),
])
async def test_each_data_element_opens_only_its_own_data(
        sim: Sim, shop: dict[str, str], elements: list[str], buyer: bool, whole_address: bool) -> None:
    token = await rdt(sim, bulk(*elements), {"method": "GET", "path": f"{ORDERS}/{{orderId}}",
                                             "dataElements": elements})
    single = check(ORD, "getOrder", await sim.call("GET", f"{ORDERS}/{shop['unshipped']}", headers=token))
    for order in ((await orders(sim, token))[shop["unshipped"]], single["payload"]):
        assert ("BuyerInfo" in order) is buyer
        assert ("Name" in order["ShippingAddress"]) is whole_address
        assert OPEN_ADDRESS <= set(order["ShippingAddress"])


async def test_a_token_answers_only_the_resources_it_was_granted_for(sim: Sim, shop: dict[str, str]) -> None:
    one = shop["unshipped"]
    token = await rdt(sim, bulk("buyerInfo"), {"method": "GET", "path": f"{ORDERS}/{one}",
                                               "dataElements": ["shippingAddress"]})
    assert "BuyerInfo" in (await orders(sim, token))[one]
    assert "Name" in check(ORD, "getOrder", await sim.call("GET", f"{ORDERS}/{one}", headers=token))[
        "payload"]["ShippingAddress"]
    refused = [
        ("getOrder", await sim.call("GET", f"{ORDERS}/{shop['afn']}", headers=token)),  # another order
        ("getOrderItems", await sim.call("GET", f"{ORDERS}/{one}/orderItems", headers=token)),
        ("getOrderAddress", await sim.call("GET", f"{ORDERS}/{one}/address", headers=token)),
        ("createRestrictedDataToken", await sim.call("POST", "/tokens/2021-03-01/restrictedDataToken",
                                                     headers=token, json={"restrictedResources": [bulk()]})),
    ]
    for operation, r in refused:
        model = TOK if operation == "createRestrictedDataToken" else ORD
        assert r.status_code == 403, (operation, r.text)
        error = check(model, operation, r)["errors"][0]
        assert (error["code"], error["message"]) == ("Unauthorized", "Access to requested resource is denied.")
    listings = await sim.call("GET", f"/listings/2021-08-01/items/{SELLER}/R-1", params={"marketplaceIds": US},
                              headers=token)
    assert listings.status_code == 403
    check(schemas.LISTINGS, "getListingsItem", listings)

    generic = await rdt(sim, {"method": "GET", "path": f"{ORDERS}/{{orderId}}", "dataElements": ["buyerInfo"]})
    for order_id in shop.values():  # the generic path stands for every order of the seller
        got = await sim.call("GET", f"{ORDERS}/{order_id}", headers=generic)
        assert "BuyerInfo" in check(ORD, "getOrder", got)["payload"]
    assert (await sim.call("GET", ORDERS, params={"MarketplaceIds": US, "LastUpdatedAfter": EPOCH},
                           headers=generic)).status_code == 403  # ... but not getOrders


async def test_a_token_lives_its_expires_in_and_no_longer(sim: Sim, shop: dict[str, str]) -> None:
    r = await sim.call("POST", "/tokens/2021-03-01/restrictedDataToken",
                       json={"restrictedResources": [bulk("buyerInfo")]})
    body = check(TOK, "createRestrictedDataToken", r)
    token = {"x-amz-access-token": body["restrictedDataToken"]}
    await sim.client.post("/_sim/clock/advance", json={"seconds": body["expiresIn"] - 5})
    assert "BuyerInfo" in (await orders(sim, token))[shop["unshipped"]]
    await sim.client.post("/_sim/clock/advance", json={"seconds": 5})
    expired = await sim.call("GET", ORDERS, params={"MarketplaceIds": US, "LastUpdatedAfter": EPOCH}, headers=token)
    assert expired.status_code == 403
    assert "expired" in check(ORD, "getOrders", expired)["errors"][0]["details"]


async def test_an_app_without_the_restricted_role_is_refused_the_data_elements() -> None:
    app = create_app(SimConfig(accounts=[ACCOUNT.model_copy(update={"pii_role": False})]), background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        s = Sim(client)
        await s.login()
        r = await s.call("POST", "/tokens/2021-03-01/restrictedDataToken", json={"restrictedResources": [
            bulk("shippingAddress", "buyerInfo"), {"method": "GET", "path": f"{ORDERS}/{{orderId}}",
                                                   "dataElements": ["buyerInfo"]}]})
        assert r.status_code == 400
        assert check(TOK, "createRestrictedDataToken", r)["errors"] == [{
            "code": "InvalidInput",
            "message": "Application does not have access to one or more requested data elements: "
                       "[buyerInfo, shippingAddress]"}]
