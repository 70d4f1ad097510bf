"""Catalogue in against the Commerce simulator (Luma sample catalogue), the real broker and PostgreSQL."""

from __future__ import annotations

import json
import random
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway import catalog
from commerce_gateway.client import CommerceCallFailed, CommerceClient
from commerce_gateway.domain.products import ITEM_TYPES
from commerce_gateway.domain.retry import RetryPolicy
from commerce_gateway.service import Settings, build
from contracts import decode, topics
from contracts.events import CommunicationError, ProductChanged
from devstack.testing import auth_headers, eventually, read_topic

pytestmark = pytest.mark.integration


def client(kit: Any, http: httpx.AsyncClient, attempts: int = 3) -> CommerceClient:
    return CommerceClient(kit.STORE_URL, SecretStr(kit.SIM_TOKEN), http=http, rng=random.Random(5),
                          retry=RetryPolicy(attempts, 0.001, 0.01))


async def catalogue(http: httpx.AsyncClient, kit: Any) -> list[dict[str, Any]]:
    """Every product as the simulator holds it, read past the gateway."""
    r = await http.get(f"{kit.STORE_URL}/V1/products", headers={"Authorization": f"Bearer {kit.SIM_TOKEN}"},
                       params={"searchCriteria[pageSize]": "5000", "searchCriteria[currentPage]": "1"})
    body = r.json()
    assert len(body["items"]) == body["total_count"]
    return list(body["items"])


async def outbox_products(pool: asyncpg.Pool) -> list[ProductChanged]:
    rows = await pool.fetch("SELECT payload FROM _outbox WHERE event_type = 'ProductChanged' ORDER BY id")
    return [decode(bytes(r["payload"]), topics.PRODUCTS.event_type_names) for r in rows]  # type: ignore[misc]


def importable(items: list[dict[str, Any]]) -> set[str]:
    return {i["sku"] for i in items if i["type_id"] in ITEM_TYPES}


async def test_full_import_emits_one_product_changed_per_importable_product(
        kit: Any, sim: Any, topics_created: str, database_url: str, pool: asyncpg.Pool) -> None:
    http, _ = sim
    items = await catalogue(http, kit)
    expected = importable(items)
    parents = {child: i["sku"] for i in items if i["type_id"] == "configurable"
               for child in i["extension_attributes"]["configurable_product_links"]}
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             commerce_base_url=kit.STORE_URL, commerce_token=SecretStr(kit.SIM_TOKEN),
                             catalog_sync_enabled=False), http=http)
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), base_url="http://gw",
                                     transport=httpx.ASGITransport(app=service.asgi())) as api:
            r = await api.post("/import/catalog")
            assert r.status_code == 202, r.text
            state: dict[str, Any] = {}

            async def done() -> bool:
                nonlocal state
                resp = await api.get("/import/catalog")
                state = resp.json() if resp.status_code == 200 else {}
                return state.get("status") == "done"
            await eventually(done, timeout=30)
            assert (await api.get("/import/catalog", headers=auth_headers("read"))).status_code == 200
            assert (await api.post("/import/catalog", headers=auth_headers("read"))).status_code == 403
        assert state["imported"] == len(expected) and state["total"] == len(items)
        run = state["run_id"]

        def ours(records: list[Any]) -> list[ProductChanged]:
            events = [decode(r.value, topics.PRODUCTS.event_type_names) for r in records]
            return [e for e in events if str(e.correlation_id) == run]  # type: ignore[misc]
        records = await read_topic(topics_created, topics.PRODUCTS.name,
                                   until=lambda rs: len(ours(rs)) >= len(expected), timeout=30)
        events = ours(records)
        assert len(events) == len(expected) and {e.sku for e in events} == expected
        by_sku = {e.sku: e for e in events}
        child = next(i for i in items if i["id"] in parents and i["sku"] in expected)
        assert by_sku[child["sku"]].parent_sku == parents[child["id"]]
        assert all(e.price.currency == "USD" for e in events)
        audit = await pool.fetchval("SELECT count(*) FROM _audit WHERE action = 'import.catalog'")
        assert audit >= 1
    finally:
        await service.stop()


async def test_a_resumed_import_neither_skips_nor_repeats_a_page(kit: Any, sim: Any, pool: asyncpg.Pool) -> None:
    http, faulty = sim
    expected = importable(await catalogue(http, kit))
    faulty.fail_page = 4
    importer = catalog.CatalogImport(pool=pool, schema=kit.SCHEMA, client=client(kit, http), producer="test",
                                     page_size=200)
    with pytest.raises(catalog.ImportFailed) as failed:
        await importer.run()
    assert failed.value.progress.status == "failed" and failed.value.progress.next_page == 4
    assert failed.value.fields["operation"] == "GET /V1/products" and failed.value.fields["attempts"] == 3
    first = await outbox_products(pool)
    errors = await pool.fetchval("SELECT count(*) FROM _outbox WHERE event_type = 'CommunicationError'")
    assert errors == 1 and 0 < len(first) < len(expected)

    faulty.fail_page = None
    done = await importer.run()
    assert done.status == "done" and done.pages == 11 and done.imported == len(expected)
    events = await outbox_products(pool)
    skus = [e.sku for e in events]
    assert len(skus) == len(set(skus)) == len(expected) and set(skus) == expected
    assert skus[: len(first)] == [e.sku for e in first]
    assert len({e.correlation_id for e in events}) == 1  # one run, continued


async def test_incremental_sync_emits_only_real_changes(kit: Any, sim: Any, pool: asyncpg.Pool) -> None:
    http, _ = sim
    c = client(kit, http)
    await catalog.CatalogImport(pool=pool, schema=kit.SCHEMA, client=c, producer="test", page_size=500).run()
    await pool.execute("TRUNCATE _outbox")
    sync = catalog.CatalogSync(pool=pool, schema=kit.SCHEMA, client=c, producer="test", page_size=500)

    unchanged = await sync.run_once()
    assert unchanged.read > 0 and unchanged.emitted == 0 and await outbox_products(pool) == []

    r = await http.put(f"{kit.STORE_URL}/V1/products/24-MB01", headers={"Authorization": f"Bearer {kit.SIM_TOKEN}"},
                       json={"product": {"sku": "24-MB01", "price": 41.5}})
    assert r.status_code == 200, r.text
    changed = await sync.run_once()
    events = await outbox_products(pool)
    assert changed.emitted == 1 and [(e.sku, str(e.price.amount)) for e in events] == [("24-MB01", "41.5")]

    again = await sync.run_once()
    assert again.emitted == 0 and len(await outbox_products(pool)) == 1


async def test_5xx_burst_is_retried_and_a_lasting_failure_is_a_communication_error(
        kit: Any, sim: Any, topics_created: str, database_url: str, pool: asyncpg.Pool) -> None:
    http, faulty = sim
    faulty.burst = 2
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             commerce_base_url=kit.STORE_URL, commerce_token=SecretStr(kit.SIM_TOKEN),
                             commerce_max_attempts=3, commerce_retry_base_delay_s=0.001,
                             commerce_retry_max_delay_s=0.01, catalog_sync_interval_s=0.2), http=http)
    await service.start()
    try:
        async def synced() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM catalog_cursors"))
        await eventually(synced, timeout=30)
        assert faulty.failed == 2  # the burst was absorbed by retries

        faulty.down = True

        def failure(records: list[Any]) -> list[CommunicationError]:
            events = [decode(r.value, topics.COMMUNICATION_ERRORS.event_type_names) for r in records]
            return [e for e in events if isinstance(e, CommunicationError) and e.system == "commerce"
                    and e.request_ref == "catalog-sync:default"]
        records = await read_topic(topics_created, topics.COMMUNICATION_ERRORS.name,
                                   until=lambda rs: bool(failure(rs)), timeout=30)
        error = failure(records)[0]
        assert error.operation.startswith("GET /V1/") and error.code == "503" and error.attempts == 3
        assert kit.SIM_TOKEN not in json.dumps(error.model_dump(mode="json"))

        faulty.down = False
        async with httpx.AsyncClient(base_url="http://gw", transport=httpx.ASGITransport(app=service.asgi())) as api:
            assert (await api.get("/healthz")).status_code == 200
        r = await http.put(f"{kit.STORE_URL}/V1/products/24-MB02", headers={"Authorization": f"Bearer {kit.SIM_TOKEN}"},
                           json={"product": {"sku": "24-MB02", "price": 12.25}})
        assert r.status_code == 200, r.text

        def changed(records: list[Any]) -> bool:
            events = [decode(r.value, topics.PRODUCTS.event_type_names) for r in records]
            return any(e.sku == "24-MB02" and str(e.price.amount) == "12.25" for e in events)  # type: ignore[attr-defined]
        await read_topic(topics_created, topics.PRODUCTS.name, until=changed, timeout=30)
    finally:
        await service.stop()


async def test_the_token_is_required(kit: Any, sim: Any) -> None:
    http, _ = sim
    bad = CommerceClient(kit.STORE_URL, SecretStr("wrong-token"), http=http, retry=RetryPolicy(2, 0, 0))
    with pytest.raises(CommerceCallFailed) as caught:
        await bad.search_products(page=1, page_size=200)
    assert caught.value.fields["code"] == "401" and caught.value.fields["attempts"] == 1
    assert "wrong-token" not in str(caught.value.fields)


async def test_an_interrupted_sync_keeps_its_cursor(kit: Any, sim: Any, pool: asyncpg.Pool) -> None:
    http, faulty = sim
    sync = catalog.CatalogSync(pool=pool, schema=kit.SCHEMA, client=client(kit, http, attempts=2), producer="test",
                               page_size=500)
    faulty.fail_page = 3
    with pytest.raises(CommerceCallFailed):
        await sync.run_once()
    assert await pool.fetchval("SELECT count(*) FROM catalog_cursors") == 0
    assert await pool.fetchval("SELECT count(*) FROM _outbox WHERE event_type = 'CommunicationError'") == 1
    first = len(await outbox_products(pool))
    assert 0 < first < 1897
    faulty.fail_page = None
    done = await sync.run_once()
    assert done.cursor is not None and first + done.emitted == 1897  # the pages already written emit nothing again
    assert len({e.sku for e in await outbox_products(pool)}) == 1897
