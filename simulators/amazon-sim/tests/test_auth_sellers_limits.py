from __future__ import annotations

import httpx

from amazon_sim import schemas
from amazon_sim.testing import DE, SELLER, US, Sim, check

PARTICIPATIONS = "/sellers/v1/marketplaceParticipations"
LWA_ERRORS = {"access_denied", "invalid_grant", "invalid_request", "invalid_scope", "server_error",
              "temporarily_unavailable", "unauthorized_client", "invalid_client"}


def lwa_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error and body["error"] in LWA_ERRORS and body["error_description"]


async def test_lwa_grants_and_errors(sim: Sim) -> None:
    r = await sim.client.post("/auth/o2/token", json={"grant_type": "refresh_token", "refresh_token": "Atzr|one",
                                                      "client_id": "app-1", "client_secret": "secret-1"})
    body = r.json()
    assert r.status_code == 200 and body["access_token"].startswith("Atza|") and body["expires_in"] == 3600
    assert body["token_type"] == "bearer"
    r = await sim.client.post("/auth/o2/token", data={"grant_type": "client_credentials", "client_id": "app-1",
                                                      "client_secret": "secret-1",
                                                      "scope": "sellingpartnerapi::notifications"})
    assert r.status_code == 200 and r.json()["access_token"].startswith("Atza|")
    grantless = r.json()["access_token"]
    r = await sim.client.get(PARTICIPATIONS, headers={"x-amz-access-token": grantless})
    assert r.status_code == 403

    base = {"grant_type": "refresh_token", "refresh_token": "Atzr|one", "client_id": "app-1",
            "client_secret": "secret-1"}
    lwa_error(await sim.client.post("/auth/o2/token", data={**base, "client_secret": "wrong"}), 401, "invalid_client")
    lwa_error(await sim.client.post("/auth/o2/token", data={**base, "refresh_token": "Atzr|x"}), 400, "invalid_grant")
    lwa_error(await sim.client.post("/auth/o2/token", data={k: v for k, v in base.items() if k != "grant_type"}),
              400, "invalid_request")
    lwa_error(await sim.client.post("/auth/o2/token", data={**base, "grant_type": "client_credentials",
                                                            "scope": "nope"}), 400, "invalid_scope")


async def test_sp_api_calls_need_a_valid_unexpired_token(sim: Sim) -> None:
    model, op = schemas.SELLERS, "getMarketplaceParticipations"
    body = check(model, op, await sim.call("GET", PARTICIPATIONS))
    assert {p["marketplace"]["id"] for p in body["payload"]} == {US, DE}
    assert {p["storeName"] for p in body["payload"]} == {"Simulated Store"}

    for headers in ({}, {"x-amz-access-token": "Atza|forged"}):
        r = await sim.client.get(PARTICIPATIONS, headers=headers)
        assert r.status_code == 403
        assert check(model, op, r)["errors"][0]["code"] == "Unauthorized"
    await sim.client.post("/_sim/clock/advance", json={"seconds": 3601})
    r = await sim.call("GET", PARTICIPATIONS)
    assert r.status_code == 403 and "expired" in check(model, op, r)["errors"][0]["details"]
    await sim.login()
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 200


async def test_rate_limit_429_after_burst_per_seller_and_refill(sim: Sim) -> None:
    model, op = schemas.SELLERS, "getMarketplaceParticipations"
    for _ in range(15):  # burst 15
        r = await sim.call("GET", PARTICIPATIONS)
        assert r.status_code == 200
        assert r.headers["x-amzn-RateLimit-Limit"] == "0.016"
    r = await sim.call("GET", PARTICIPATIONS)
    assert r.status_code == 429
    assert check(model, op, r)["errors"][0]["code"] == "QuotaExceeded"
    # buckets are per seller account
    own = sim.headers
    await sim.login("Atzr|two")
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 200
    sim.headers = own
    await sim.client.post("/_sim/clock/advance", json={"seconds": 63})  # 0.016/s refills one token in 62.5 s
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 200
    assert (await sim.call("GET", PARTICIPATIONS)).status_code == 429
    stats = (await sim.client.get("/_sim/stats")).json()
    assert stats["throttled"] == 2
    assert stats["operations"][op]["429"] == 2 and stats["operations"][op]["calls"] == 19


async def test_rate_limit_overrides_and_switch(sim: Sim) -> None:
    r = await sim.client.post("/_sim/ratelimits", json={"overrides": {"getMarketplaceParticipations":
                                                                      {"rate": 1, "burst": 2}}})
    assert r.json()["plans"]["getMarketplaceParticipations"] == {"rate": 1.0, "burst": 2}
    codes = [(await sim.call("GET", PARTICIPATIONS)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    await sim.client.post("/_sim/ratelimits", json={"enabled": False})
    codes = [(await sim.call("GET", PARTICIPATIONS)).status_code for _ in range(30)]
    assert set(codes) == {200}


async def test_unknown_path_gets_sp_api_error_body(sim: Sim) -> None:
    r = await sim.call("GET", f"/listings/2021-08-01/nothing/{SELLER}/a/b")
    assert r.status_code == 404 and r.json()["errors"][0]["code"]
