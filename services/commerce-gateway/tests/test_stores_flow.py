"""Store structure and currency rates against the Commerce simulator, the real broker and PostgreSQL: both events
at start, nothing when nothing changed, one CurrencyRatesObserved when an admin changes a rate, a
CommunicationError while Commerce is down and the next pass working again."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway.client import CommerceClient
from commerce_gateway.domain.retry import RetryPolicy
from commerce_gateway.service import Settings, build
from commerce_gateway.stores import StoreSync, StoreSyncFailed
from contracts import decode, topics
from contracts.events import CommunicationError, CurrencyRatesObserved, StoreStructureObserved
from devstack.testing import auth_headers, read_topic

pytestmark = pytest.mark.integration


def store_sync(kit: Any, http: httpx.AsyncClient, commerce: str) -> StoreSync:
    client = CommerceClient(kit.STORE_URL, SecretStr(kit.SIM_TOKEN), http=http, rng=random.Random(5),
                            retry=RetryPolicy(2, 0.001, 0.01))
    return StoreSync(pool=None, schema=kit.SCHEMA, client=client, producer="test", commerce=commerce)


async def emitted(pool: asyncpg.Pool, commerce: str) -> list[Any]:
    rows = await pool.fetch("SELECT payload FROM _outbox WHERE topic = $1 ORDER BY id", topics.STORES.name)
    events = [decode(bytes(r["payload"]), topics.STORES.event_type_names) for r in rows]
    return [e for e in events if e.commerce == commerce]  # type: ignore[attr-defined]


@pytest.fixture
async def stores_pool(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("TRUNCATE store_observations")
    return pool


@pytest.fixture
async def seeded_rates(sim: Any) -> Any:
    """The simulator's currency rates as seeded again after the test (they are its process's)."""
    http, _ = sim
    yield http
    assert (await http.post("/_sim/reset")).status_code == 200


async def test_start_emits_the_structure_and_the_rates_once(kit: Any, sim: Any, stores_pool: asyncpg.Pool) -> None:
    http, _ = sim
    commerce = f"shop-{uuid.uuid4().hex[:6]}"
    sync = store_sync(kit, http, commerce)
    sync.pool = stores_pool

    first = await sync.run_once()
    again = await sync.run_once()

    assert first.emitted == ["structure", "rates"] and first.unconfigured == []
    assert again.emitted == []
    events = await emitted(stores_pool, commerce)
    assert [type(e) for e in events] == [StoreStructureObserved, CurrencyRatesObserved]
    structure, rates = events
    assert [(w.id, w.code, w.default_group_id) for w in structure.websites] == [(1, "base", 1), (2, "eu", 2)]
    assert [(g.code, g.website_id, g.root_category_id, g.default_store_id) for g in structure.store_groups] == [
        ("main_website_store", 1, 2, 1), ("eu_store", 2, 2, 2)]
    assert [(v.code, v.website_id, v.store_group_id, v.is_active, v.base_currency, v.default_display_currency,
             v.locale, v.timezone, v.weight_unit) for v in structure.store_views] == [
        ("default", 1, 1, True, "USD", "USD", "en_US", "America/Chicago", "lbs"),
        ("eu_en", 2, 2, True, "EUR", "EUR", "en_GB", "Europe/Berlin", "kgs")]
    assert (rates.base_currency, rates.default_display_currency) == ("USD", "USD")
    assert rates.rates == {"EUR": Decimal("0.92"), "GBP": Decimal("0.79"), "USD": Decimal("1")}
    assert {e.observed_at for e in events} == {structure.observed_at}
    kinds = {r["kind"]: r for r in await stores_pool.fetch(
        "SELECT kind, observed_at, changed_at, checked_at FROM store_observations WHERE commerce = $1", commerce)}
    assert set(kinds) == {"structure", "rates"}
    assert all(r["checked_at"] > r["changed_at"] for r in kinds.values())  # read twice, changed once


async def test_a_changed_rate_emits_one_currency_rates_observed(
        kit: Any, sim: Any, seeded_rates: Any, stores_pool: asyncpg.Pool) -> None:
    http, _ = sim
    commerce = f"shop-{uuid.uuid4().hex[:6]}"
    sync = store_sync(kit, http, commerce)
    sync.pool = stores_pool
    await sync.run_once()

    r = await http.put("/_sim/currency-rates", json={"base_currency": "USD", "rates": {"EUR": 0.95, "GBP": 0.79}})
    assert r.status_code == 200, r.text
    changed = await sync.run_once()
    unchanged = await sync.run_once()

    assert (changed.emitted, unchanged.emitted) == (["rates"], [])
    events = await emitted(stores_pool, commerce)
    assert [type(e).__name__ for e in events] == ["StoreStructureObserved", "CurrencyRatesObserved",
                                                  "CurrencyRatesObserved"]
    assert events[-1].rates["EUR"] == Decimal("0.95") and events[-1].observed_at > events[1].observed_at


async def test_commerce_down_is_a_communication_error_and_the_next_pass_reads_again(
        kit: Any, sim: Any, stores_pool: asyncpg.Pool) -> None:
    http, faulty = sim
    commerce = f"shop-{uuid.uuid4().hex[:6]}"
    sync = store_sync(kit, http, commerce)
    sync.pool = stores_pool
    faulty.down = True
    with pytest.raises(StoreSyncFailed):
        await sync.run_once()
    rows = await stores_pool.fetch("SELECT payload FROM _outbox WHERE event_type = 'CommunicationError'")
    errors = [decode(bytes(r["payload"]), topics.COMMUNICATION_ERRORS.event_type_names) for r in rows]
    mine = [e for e in errors if isinstance(e, CommunicationError) and e.request_ref == f"store-sync:{commerce}"]
    assert len(mine) == 1
    assert (mine[0].system, mine[0].operation, mine[0].code, mine[0].attempts) == (
        "commerce", "GET /V1/store/websites", "503", 2)
    assert kit.SIM_TOKEN not in json.dumps(mine[0].model_dump(mode="json"))
    assert await emitted(stores_pool, commerce) == []

    passes: list[str] = []

    async def next_interval(_: float) -> None:
        passes.append("failed" if not await emitted(stores_pool, commerce) else "emitted")
        faulty.down = False
        if len(passes) == 2:
            raise asyncio.CancelledError

    faulty.down = True
    with pytest.raises(asyncio.CancelledError):
        await sync.run_forever(60, sleep=next_interval)
    assert passes == ["failed", "emitted"]  # a failure does not stop the loop; the next pass emits
    assert len(await emitted(stores_pool, commerce)) == 2


async def test_the_running_gateway_publishes_the_stores_and_shows_them(
        kit: Any, sim: Any, topics_created: str, database_url: str, stores_pool: asyncpg.Pool) -> None:
    http, _ = sim
    commerce = f"shop-{uuid.uuid4().hex[:6]}"
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             commerce_base_url=kit.STORE_URL, commerce_token=SecretStr(kit.SIM_TOKEN),
                             commerce_name=commerce, catalog_sync_enabled=False), http=http)
    await service.start()
    try:
        def ours(records: list[Any]) -> list[Any]:
            events = [decode(r.value, topics.STORES.event_type_names) for r in records]
            return [(r.key.decode(), e) for r, e in zip(records, events, strict=True)
                    if e.commerce == commerce]  # type: ignore[attr-defined]
        records = await read_topic(topics_created, topics.STORES.name, until=lambda rs: len(ours(rs)) >= 2)
        async with httpx.AsyncClient(base_url="http://gw", transport=httpx.ASGITransport(app=service.asgi())) as api:
            shown = await api.get("/store", headers=auth_headers("read"))
            anonymous = await api.get("/store")
    finally:
        await service.stop()

    assert sorted(type(e).__name__ for _, e in ours(records)) == ["CurrencyRatesObserved", "StoreStructureObserved"]
    assert {key for key, _ in ours(records)} == {commerce}
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["commerce"] == commerce
    assert [v["code"] for v in body["structure"]["store_views"]] == ["default", "eu_en"]
    assert body["rates"]["base_currency"] == "USD" and body["rates"]["rates"]["EUR"] == "0.92"
    assert anonymous.status_code == 401


async def test_store_is_a_404_problem_until_commerce_was_read(
        kit: Any, sim: Any, topics_created: str, database_url: str, stores_pool: asyncpg.Pool) -> None:
    http, faulty = sim
    faulty.down = True
    commerce = f"down-{uuid.uuid4().hex[:6]}"
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             commerce_base_url=kit.STORE_URL, commerce_token=SecretStr(kit.SIM_TOKEN),
                             commerce_name=commerce, commerce_max_attempts=1, catalog_sync_enabled=False),
                    http=http)
    await service.start()
    try:
        def failed(records: list[Any]) -> bool:
            return any(getattr(decode(r.value, topics.COMMUNICATION_ERRORS.event_type_names), "request_ref", None)
                       == f"store-sync:{commerce}" for r in records)
        await read_topic(topics_created, topics.COMMUNICATION_ERRORS.name, until=failed)
        async with httpx.AsyncClient(base_url="http://gw", transport=httpx.ASGITransport(app=service.asgi())) as api:
            r = await api.get("/store", headers=auth_headers("read"))
    finally:
        await service.stop()
    assert r.status_code == 404 and commerce in r.json()["detail"], r.text
