from __future__ import annotations

import json
import time

from amazon_sim import schemas
from amazon_sim.testing import SELLER, US, Sim, check

BASE = f"/listings/2021-08-01/items/{SELLER}"
PARTICIPATIONS = "/sellers/v1/marketplaceParticipations"


async def no_limits(sim: Sim) -> None:
    await sim.client.post("/_sim/ratelimits", json={"enabled": False})


async def test_error_rate_is_seeded_and_errors_are_sp_api_bodies(sim: Sim) -> None:
    await no_limits(sim)

    async def run() -> list[int]:
        await sim.client.post("/_sim/faults", json={"seed": 42, "error_rate": 0.5})
        codes = []
        for _ in range(40):
            r = await sim.call("GET", PARTICIPATIONS)
            if r.status_code != 200:
                check(schemas.SELLERS, "getMarketplaceParticipations", r)
            codes.append(r.status_code)
        return codes

    first = await run()
    assert set(first) == {200, 500, 503}
    assert first == await run()  # same seed, same faults
    await sim.client.delete("/_sim/faults")
    assert {(await sim.call("GET", PARTICIPATIONS)).status_code for _ in range(10)} == {200}
    assert (await sim.client.get("/_sim/stats")).json()["faults"]["errors"] == first.count(500) * 2 + first.count(
        503) * 2


async def test_faults_can_target_one_operation(sim: Sim) -> None:
    await no_limits(sim)
    await sim.client.post("/_sim/faults", json={"seed": 1, "error_rate": 1.0, "error_statuses": [503],
                                                "operations": ["getListingsItem"]})
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 200
    r = await sim.call("GET", f"{BASE}/X", params={"marketplaceIds": US})
    assert r.status_code == 503
    check(schemas.LISTINGS, "getListingsItem", r)


async def test_latency(sim: Sim) -> None:
    await sim.client.post("/_sim/faults", json={"latency_ms": 150})
    start = time.perf_counter()
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 200
    assert time.perf_counter() - start >= 0.14


async def test_malformed_bodies(sim: Sim) -> None:
    await no_limits(sim)
    await sim.client.post("/_sim/faults", json={"seed": 3, "malformed_rate": 1.0, "malformed_kinds": ["invalid_json"]})
    r = await sim.call("GET", PARTICIPATIONS)
    assert r.status_code == 200
    try:
        json.loads(r.content)
        raise AssertionError("body should not parse")
    except json.JSONDecodeError:
        pass
    await sim.client.post("/_sim/faults", json={"seed": 3, "malformed_rate": 1.0, "malformed_kinds": ["schema"]})
    await sim.client.put(f"/_sim/listings/{SELLER}/M1", json={"productType": "HOME", "attributes": {}})
    for op, method, path, model in [
        ("getMarketplaceParticipations", "GET", PARTICIPATIONS, schemas.SELLERS),
        ("getListingsItem", "GET", f"{BASE}/M1?marketplaceIds={US}", schemas.LISTINGS),
        ("searchListingsItems", "GET", f"{BASE}?marketplaceIds={US}", schemas.LISTINGS),
        ("deleteListingsItem", "DELETE", f"{BASE}/M1?marketplaceIds={US}", schemas.LISTINGS),
    ]:
        r = await sim.call(method, path)
        assert r.status_code == 200
        validator = schemas.response_validator(model, op, 200)
        assert not validator.is_valid(r.json()), (op, r.json())
    assert (await sim.client.get("/_sim/stats")).json()["faults"]["malformed"] == 5


async def test_accepted_but_not_applied(sim: Sim) -> None:
    await no_limits(sim)
    await sim.client.put(f"/_sim/listings/{SELLER}/D1", json={"productType": "HOME", "attributes": {
        "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                               "our_price": [{"schedule": [{"value_with_tax": 20}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 5}]}})
    await sim.client.post("/_sim/faults", json={"seed": 9, "drop_update_rate": 1.0})
    patch = {"productType": "HOME", "patches": [
        {"op": "replace", "path": "/attributes/purchasable_offer", "value": [
            {"marketplace_id": US, "currency": "USD", "our_price": [{"schedule": [{"value_with_tax": 17.5}]}]}]},
        {"op": "replace", "path": "/attributes/fulfillment_availability",
         "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}]}]}
    r = await sim.call("PATCH", f"{BASE}/D1", params={"marketplaceIds": US}, json=patch)
    assert check(schemas.LISTINGS, "patchListingsItem", r)["status"] == "ACCEPTED"
    state = (await sim.client.get(f"/_sim/listings/{SELLER}/D1")).json()
    assert state["prices"] == {US: "20.00"} and state["quantity"] == 5
    assert (await sim.client.get("/_sim/stats")).json()["faults"]["dropped_updates"] == 1
    await sim.client.delete("/_sim/faults")
    r = await sim.call("PATCH", f"{BASE}/D1", params={"marketplaceIds": US}, json=patch)
    state = (await sim.client.get(f"/_sim/listings/{SELLER}/D1")).json()
    assert state["prices"] == {US: "17.50"} and state["quantity"] == 1
