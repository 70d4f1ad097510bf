"""The SP-API client against the simulator in process: tokens, rate limits, retries, errors without secrets."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import structlog

from amazon_gateway.accounts import load_accounts
from amazon_gateway.client import AmazonCallFailed, SpApiClient
from amazon_gateway.domain.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05)


def client_for(kit: Any, http: httpx.AsyncClient, **kwargs: object) -> SpApiClient:
    account = kwargs.pop("account", kit.gateway_account())
    kwargs.setdefault("retry", FAST)
    return SpApiClient({kit.ACCOUNT_ID: account}, http=http, api_base_url=kit.SIM_BASE,  # type: ignore[dict-item]
                       lwa_url=f"{kit.SIM_BASE}/auth/o2/token", **kwargs)  # type: ignore[arg-type]


US = "ATVPDKIKX0DER"
PATCH_PRICE = {"productType": "PRODUCT", "patches": [
    {"op": "replace", "path": "/attributes/purchasable_offer",
     "value": [{"marketplace_id": US, "currency": "USD", "our_price": [{"schedule": [{"value_with_tax": 12.5}]}]}]}]}


async def test_one_token_per_account_refreshed_before_expiry(sim_http: httpx.AsyncClient, kit: Any) -> None:
    (sku,) = kit.new_skus(1)
    await kit.seed_listing(sim_http, sku)
    now = [1000.0]
    client = client_for(kit, sim_http, clock=lambda: now[0])
    for _ in range(3):
        assert await client.get_listings_item(kit.ACCOUNT_ID, kit.US, sku)
    stats = (await sim_http.get("/_sim/stats")).json()
    assert stats["operations"]["getListingsItem"]["200"] == 3
    first = client.tokens.get(kit.ACCOUNT_ID, now[0])
    now[0] += 3600 - 30  # inside the refresh margin: a new token is fetched
    assert await client.get_listings_item(kit.ACCOUNT_ID, kit.US, sku)
    assert client.tokens.get(kit.ACCOUNT_ID, now[0]) not in (None, first)


async def test_patch_and_get_listing(sim_http: httpx.AsyncClient, kit: Any) -> None:
    (sku,) = kit.new_skus(1)
    await kit.seed_listing(sim_http, sku)
    client = client_for(kit, sim_http)
    response = await client.patch_listings_item(kit.ACCOUNT_ID, kit.US, sku, PATCH_PRICE)
    assert response["status"] == "ACCEPTED"
    assert (await kit.listing_state(sim_http, sku))["prices"] == {kit.US: "12.50"}
    listing = await client.get_listings_item(kit.ACCOUNT_ID, kit.US, sku)
    assert listing is not None and listing["offers"][0]["price"]["amount"] in ("12.5", "12.50")
    assert await client.get_listings_item(kit.ACCOUNT_ID, kit.US, "NO-SUCH-SKU") is None


async def test_rate_limit_adopted_from_header_and_throttling_retried(sim_http: httpx.AsyncClient, kit: Any) -> None:
    skus = kit.new_skus(12)
    for sku in skus:
        await kit.seed_listing(sim_http, sku)
    await sim_http.post("/_sim/ratelimits", json={"overrides": {"getListingsItem": {"rate": 20, "burst": 2}}})
    client = client_for(kit, sim_http, retry=RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.2))
    for sku in skus:
        assert await client.get_listings_item(kit.ACCOUNT_ID, kit.US, sku)
    assert client.limits.bucket(kit.ACCOUNT_ID, "getListingsItem").rate_per_s == 20


async def test_server_errors_retried_then_reported(sim_http: httpx.AsyncClient, kit: Any) -> None:
    (sku,) = kit.new_skus(1)
    await kit.seed_listing(sim_http, sku)
    await sim_http.post("/_sim/faults", json={"error_rate": 1.0, "error_statuses": [500],
                                              "operations": ["patchListingsItem"]})
    client = client_for(kit, sim_http)
    with pytest.raises(AmazonCallFailed) as failed:
        await client.patch_listings_item(kit.ACCOUNT_ID, kit.US, sku, PATCH_PRICE)
    assert failed.value.fields["operation"] == "patchListingsItem"
    assert failed.value.fields["code"] == "InternalFailure"
    assert failed.value.fields["attempts"] == FAST.max_attempts
    assert failed.value.status == 500


async def test_transport_errors_are_retried(sim_http: httpx.AsyncClient, kit: Any) -> None:
    (sku,) = kit.new_skus(1)
    await kit.seed_listing(sim_http, sku)
    calls = {"n": 0}
    inner = sim_http._transport

    class Flaky(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            calls["n"] += 1
            if calls["n"] == 2:
                raise httpx.ReadTimeout("timed out", request=request)
            return await inner.handle_async_request(request)

    async with httpx.AsyncClient(transport=Flaky(), base_url=kit.SIM_BASE) as http:
        assert await client_for(kit, http).get_listings_item(kit.ACCOUNT_ID, kit.US, sku)
    assert calls["n"] == 3  # token, timeout, retry


async def test_bad_credentials_reported_without_secrets(sim_http: httpx.AsyncClient, kit: Any) -> None:
    wrong = "amzn1.oa2-cs.v1.wrongsecret987654"
    client = client_for(kit, sim_http, account=kit.gateway_account(client_secret=wrong))
    with structlog.testing.capture_logs() as logs, pytest.raises(AmazonCallFailed) as failed:
        await client.get_listings_item(kit.ACCOUNT_ID, kit.US, "ANY")
    assert failed.value.fields["operation"] == "lwaToken"
    assert failed.value.fields["code"] == "invalid_client"
    text = json.dumps([failed.value.fields, logs], default=str) + str(failed.value)
    for secret in (wrong, kit.REFRESH_TOKEN, kit.CLIENT_SECRET):
        assert secret not in text


async def test_unknown_account_is_a_failure_not_a_crash(sim_http: httpx.AsyncClient, kit: Any) -> None:
    with pytest.raises(AmazonCallFailed) as failed:
        await client_for(kit, sim_http).get_listings_item("nobody", kit.US, "ANY")
    assert failed.value.fields["code"] == "UnknownAccount"


def test_accounts_from_inline_json_or_file(tmp_path: Any) -> None:
    raw = json.dumps([{"account_id": "a1", "seller_id": "S1", "region": "eu", "client_id": "c",
                       "client_secret": "amzn1.oa2-cs.v1.x", "refresh_token": "Atzr|y",
                       "marketplace_ids": ["A1PA6795UKMFR9"]}])
    path = tmp_path / "accounts.json"
    path.write_text(raw)
    for accounts in (load_accounts(raw, None), load_accounts(None, str(path))):
        account = accounts["a1"]
        assert account.seller_id == "S1" and account.credentials.host == "sellingpartnerapi-eu.amazon.com"
        assert "Atzr|y" not in repr(account) and "amzn1.oa2-cs.v1.x" not in repr(account)
    assert load_accounts(None, None) == {}
