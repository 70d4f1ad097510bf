"""Spec 13 checks 3, 4 and 6 and spec 14 check 4 as far as Commerce: order-import and commerce-gateway with the real
broker and PostgreSQL, Commerce simulated by magento-sim in process. Orders in Commerce are read back from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from orders_helpers import T0, placed, product, run_id, running, settings_doc
from pydantic import SecretStr

import magento_sim
from commerce_gateway.service import Settings as GatewaySettings
from commerce_gateway.service import build as build_gateway
from contracts.events import Address, FulfillmentBy
from devstack.testing import eventually

pytestmark = pytest.mark.integration

TOKEN = "order-import-commerce-token-5d1c"
BASE = "http://commerce.test"
SKU = "24-MB01"  # in the simulator's Luma catalogue


@pytest.fixture
async def commerce() -> AsyncIterator[httpx.AsyncClient]:
    app = magento_sim.create_app(magento_sim.SimConfig(token=TOKEN))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        yield http


async def search(http: httpx.AsyncClient, path: str, field: str, value: str) -> list[dict[str, Any]]:
    r = await http.get(f"{BASE}/rest/default/V1/{path}", headers={"Authorization": f"Bearer {TOKEN}"}, params={
        "searchCriteria[filterGroups][0][filters][0][field]": field,
        "searchCriteria[filterGroups][0][filters][0][value]": value})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_orders_reach_commerce_once_with_customers_numbers_and_a_corrected_address(
        commerce: httpx.AsyncClient, topics_created: str, database_url: str) -> None:
    run = run_id()
    account = f"e2e-{run}"
    first, second, fba, bad_region = (f"130-{run}-{n}" for n in range(4))
    email = f"buyer-{run}@example.com"
    gateway = build_gateway(GatewaySettings(
        kafka_bootstrap_servers=topics_created, database_url=database_url, commerce_base_url=f"{BASE}/rest/default",
        commerce_token=SecretStr(TOKEN), catalog_sync_enabled=False, commerce_max_attempts=2,
        commerce_retry_base_delay_s=0.01, commerce_retry_max_delay_s=0.05, order_idle_s=0.05,
        consumer_batch_timeout_ms=20), http=commerce)
    await gateway.start()
    try:
        async with running(topics_created, database_url) as h:
            await h.apply(settings_doc(account, customer_creation="build", order_number_source="amazon"))
            await h.send(product(SKU, quantity=1000))
            await h.send(
                placed(account, first, sku=SKU, email=email),
                placed(account, second, sku=SKU, email=email.upper()),
                placed(account, fba, "Shipped", FulfillmentBy.AFN, sku=SKU, email=None),
                placed(account, bad_region, sku=SKU, at=T0 + timedelta(minutes=1), address=Address(
                    name="Sam Roe", line1="9 Elm St", city="escondido", region="Kalifornia", postal_code="92025",
                    country_code="US")))
            blocked = await h.order(bad_region)
            bad = await h.client.put(f"/orders/{bad_region}/address", json={"region": "Calfornia"})
            fixed = await h.client.put(f"/orders/{bad_region}/address", json={"region": "california",
                                                                              "line3": "Unit 4"})

            async def created(*orders: str) -> bool:
                return all([(await h.order(o))["import_state"] == "created" for o in orders])

            await eventually(lambda: created(first, second, fba, bad_region), timeout=30, what="orders created")
            in_commerce = {o: await search(commerce, "orders", "ext_order_id", o)
                           for o in (first, second, fba, bad_region)}
            customers = await search(commerce, "customers/search", "email", email)
            details = await h.order(bad_region)
            edited = await h.client.put(f"/orders/{bad_region}/address", json={"region": "Texas"})
    finally:
        await gateway.stop()

    assert blocked["import_state"] == "blocked" and blocked["note"] == "shipping address region: names no US state"
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.region"
    assert fixed.status_code == 200, fixed.text
    assert {o: len(found) for o, found in in_commerce.items()} == {first: 1, second: 1, fba: 1, bad_region: 1}
    # Check 3: the Amazon number is the Commerce order number.
    assert [in_commerce[o][0]["increment_id"] for o in (first, second)] == [first, second]
    # Check 4: one customer for one email, however often (and in whatever case) it orders.
    [customer] = customers
    assert in_commerce[first][0]["customer_id"] == in_commerce[second][0]["customer_id"] == customer["id"]
    # Check 6: Amazon-fulfilled at Shipped, created complete.
    assert (in_commerce[fba][0]["state"], in_commerce[fba][0]["status"]) == ("complete", "complete")
    # Spec 14 check 4: the corrected region, normalised, reached Commerce.
    shipping = in_commerce[bad_region][0]["extension_attributes"]["shipping_assignments"][0]["shipping"]["address"]
    assert (shipping["region_code"], shipping["city"], shipping["street"]) == ("CA", "Escondido",
                                                                             ["9 Elm St", "Unit 4"])
    assert details["shipping_address"]["region"] == "california"  # as entered; normalised on the way out
    assert details["commerce_order_id"] == str(in_commerce[bad_region][0]["entity_id"])
    assert edited.status_code == 409  # in Commerce now: no longer editable here
