"""Customers: one account per email in a website, found by email through searchCriteria."""

from __future__ import annotations

from .conftest import Client, criteria

JANE = {"email": "jane@example.com", "firstname": "Jane", "lastname": "Doe"}


async def test_the_same_email_is_refused_in_the_same_website_only(sim: Client) -> None:
    first = await sim.call("POST", "/V1/customers", json={"customer": JANE})
    assert first.status_code == 200 and first.json()["website_id"] == 1
    again = await sim.call("POST", "/V1/customers", json={"customer": {**JANE, "email": "JANE@example.com"}})
    assert (again.status_code, again.json()) == (400, {
        "message": "A customer with the same email address already exists in an associated website."})
    eu = await sim.call("POST", "/rest/eu_en/V1/customers", json={"customer": JANE})
    assert eu.status_code == 200 and eu.json()["website_id"] == 2 and eu.json()["store_id"] == 2
    found = (await sim.call("GET", "/V1/customers/search", params=criteria(("email", "jane@example.com", "eq"))))
    assert sorted(c["website_id"] for c in found.json()["items"]) == [1, 2]
    in_eu = await sim.call("GET", "/V1/customers/search", params=criteria(("email", "jane@example.com", "eq"),
                                                                         ("website_id", "2", "eq")))
    assert [c["id"] for c in in_eu.json()["items"]] == [eu.json()["id"]]


async def test_required_fields_and_unknown_ids(sim: Client) -> None:
    r = await sim.call("POST", "/V1/customers", json={"customer": {"email": "x@example.com", "firstname": "X"}})
    assert r.status_code == 400 and r.json()["parameters"] == [{"fieldName": "lastname"}]
    r = await sim.call("GET", "/V1/customers/41")
    assert (r.status_code, r.json()) == (404, {"message": "No such entity with %fieldName = %fieldValue",
                                               "parameters": [{"fieldName": "customerId", "fieldValue": "41"}]})
    assert (await sim.client.get("/V1/customers/search", params={"searchCriteria": ""})).status_code == 401
