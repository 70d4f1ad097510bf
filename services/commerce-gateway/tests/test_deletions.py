"""Deleted products found by comparing the catalogue's SKUs with those emitted, against the Commerce simulator
(Luma sample catalogue), the real broker and PostgreSQL."""

from __future__ import annotations

import json
import random
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway import catalog, deletions
from commerce_gateway.client import CommerceCallFailed, CommerceClient
from commerce_gateway.domain.retry import RetryPolicy
from commerce_gateway.service import SERVICE, Settings, build
from contracts import decode, topics
from contracts.events import CommunicationError, ProductChanged, ProductStatus
from devstack.testing import auth_headers, eventually, read_topic

pytestmark = pytest.mark.integration


def commerce(kit: Any, http: httpx.AsyncClient) -> CommerceClient:
    return CommerceClient(kit.STORE_URL, SecretStr(kit.SIM_TOKEN), http=http, rng=random.Random(3),
                          retry=RetryPolicy(2, 0.001, 0.01))


def reconcile(kit: Any, http: httpx.AsyncClient, pool: asyncpg.Pool) -> deletions.CatalogReconcile:
    return deletions.CatalogReconcile(pool=pool, schema=kit.SCHEMA, client=commerce(kit, http), producer=SERVICE,
                                      lookup_batch=2)


async def emitted(pool: asyncpg.Pool, event_type: str = "ProductChanged") -> list[Any]:
    rows = await pool.fetch("SELECT payload FROM _outbox WHERE event_type = $1 ORDER BY id", event_type)
    return [decode(bytes(r["payload"]), (event_type,)) for r in rows]


async def imported(kit: Any, http: httpx.AsyncClient, pool: asyncpg.Pool) -> set[str]:
    """The whole catalogue imported; the SKUs emitted (the outbox emptied, as a relay would)."""
    await catalog.CatalogImport(pool=pool, schema=kit.SCHEMA, client=commerce(kit, http), producer=SERVICE).run()
    await pool.execute("DELETE FROM _outbox")
    return {r["sku"] for r in await pool.fetch("SELECT sku FROM product_hashes")}


async def delete(kit: Any, http: httpx.AsyncClient, sku: str) -> None:
    r = await http.delete(f"{kit.STORE_URL}/V1/products/{sku}", headers={"Authorization": f"Bearer {kit.SIM_TOKEN}"})
    assert r.status_code == 200 and r.json() is True


async def test_each_product_deleted_in_commerce_is_one_deleted_event_and_the_next_pass_none(
        kit: Any, sim: Any, pool: asyncpg.Pool) -> None:
    http, _ = sim
    skus = await imported(kit, http, pool)
    assert {"24-MB01", "MH01-XS-Black"} <= skus
    for sku in ("24-MB01", "MH01-XS-Black", "MH01"):  # MH01 is a configurable: never emitted itself
        await delete(kit, http, sku)
    result = await reconcile(kit, http, pool).run_once()
    assert result.known == len(skus) and result.deleted == 2 and result.listed == 2046 - 3
    events: list[ProductChanged] = await emitted(pool)
    assert sorted(e.sku for e in events) == ["24-MB01", "MH01-XS-Black"]
    assert all(e.status is ProductStatus.DELETED and e.quantity == 0 and e.price.currency == "USD" for e in events)
    remaining = {r["sku"] for r in await pool.fetch("SELECT sku FROM product_hashes")}
    assert remaining == skus - {"24-MB01", "MH01-XS-Black"}
    again = await reconcile(kit, http, pool).run_once()
    assert again.deleted == 0 and len(await emitted(pool)) == 2


class Shifted(httpx.AsyncBaseTransport):
    """Commerce whose SKU listing misses one product, as a page boundary moved by a deletion mid-listing would."""

    def __init__(self, inner: httpx.AsyncBaseTransport, missing: str) -> None:
        self.inner, self.missing = inner, missing

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        params = request.url.params
        if "fields" not in params or any("filter" in k for k in params):
            return response
        body = json.loads(await response.aread())
        body["items"] = [i for i in body["items"] if i["sku"] != self.missing]
        return httpx.Response(200, json=body)


async def test_a_product_the_listing_missed_but_commerce_still_finds_is_not_deleted(
        kit: Any, sim: Any, pool: asyncpg.Pool) -> None:
    http, _ = sim
    await imported(kit, http, pool)
    await delete(kit, http, "24-MB04")
    shifted = httpx.AsyncClient(transport=Shifted(http._transport, "24-MB05"), base_url=kit.SIM_BASE)
    async with shifted:
        result = await reconcile(kit, shifted, pool).run_once()
    assert result.deleted == 1
    assert [e.sku for e in await emitted(pool)] == ["24-MB04"]
    assert await pool.fetchval("SELECT count(*) FROM product_hashes WHERE sku = '24-MB05'") == 1


async def test_commerce_failing_is_a_communication_error_and_deletes_nothing(
        kit: Any, sim: Any, pool: asyncpg.Pool) -> None:
    http, faulty = sim
    skus = await imported(kit, http, pool)
    await delete(kit, http, "24-MB01")
    faulty.down = True
    with pytest.raises(CommerceCallFailed):
        await reconcile(kit, http, pool).run_once()
    assert await emitted(pool) == []
    [error] = await emitted(pool, "CommunicationError")
    assert isinstance(error, CommunicationError) and error.operation == "GET /V1/products"
    assert error.request_ref == "catalog-reconcile:default"
    assert {r["sku"] for r in await pool.fetch("SELECT sku FROM product_hashes")} == skus


async def test_nothing_emitted_yet_reads_nothing(kit: Any, sim: Any, pool: asyncpg.Pool) -> None:
    http, faulty = sim
    faulty.down = True  # not one call: a failure would raise
    assert await reconcile(kit, http, pool).run_once() == deletions.ReconcileResult(0, 0, 0)


async def test_a_completed_import_is_followed_by_a_reconciliation(
        kit: Any, sim: Any, topics_created: str, database_url: str, pool: asyncpg.Pool) -> None:
    http, _ = sim
    await pool.execute("INSERT INTO product_hashes (store_code, sku, hash, updated_at) "
                       "VALUES ('default', 'RETIRED-1', 'x', now() - interval '1 day')")
    quiet = ("catalog_sync_enabled", "orders_enabled", "store_sync_enabled", "products_out_enabled",
             "fulfilment_sync_enabled")
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             commerce_base_url=kit.STORE_URL, commerce_token=SecretStr(kit.SIM_TOKEN),
                             catalog_reconcile_interval_s=3600,
                             **{name: False for name in quiet if name in Settings.model_fields}), http=http)
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), base_url="http://gw",
                                     transport=httpx.ASGITransport(app=service.asgi())) as api:
            assert (await api.post("/import/catalog")).status_code == 202

            async def gone() -> bool:
                return await pool.fetchval("SELECT count(*) FROM product_hashes WHERE sku = 'RETIRED-1'") == 0
            await eventually(gone, timeout=60, what="RETIRED-1 reconciled")

        def retired(records: list[Any]) -> list[ProductChanged]:
            events = [decode(r.value, topics.PRODUCTS.event_type_names) for r in records if b"RETIRED-1" in r.value]
            return events  # type: ignore[return-value]
        records = await read_topic(topics_created, topics.PRODUCTS.name, until=lambda rs: bool(retired(rs)),
                                   timeout=30)
        [event] = retired(records)
        assert event.status is ProductStatus.DELETED and event.name == "RETIRED-1"
    finally:
        await service.stop()
