"""The product sender against the Commerce simulator and real PostgreSQL, without the broker: replicas racing for
one SKU's requests, and a claim another sender still holds."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from commerce_gateway import products_out
from commerce_gateway.client import CommerceClient
from commerce_gateway.domain.retry import RetryPolicy
from commerce_gateway.service import SERVICE
from contracts import decode, topics
from contracts.events import CommerceProductRequested, CommerceProductResult
from contracts.money import Money
from servicekit import Tx

pytestmark = pytest.mark.integration


def requested(commerce_sku: str, **over: Any) -> CommerceProductRequested:
    fields: dict[str, Any] = dict(
        producer="catalog-sync", account_id="acct-sender", marketplace_id="ATVPDKIKX0DER", sku=commerce_sku,
        action="create", commerce_sku=commerce_sku, name=f"Sender Tote {commerce_sku}",
        price=Money(amount=Decimal("9.50"), currency="USD"))
    fields.update(over)
    return CommerceProductRequested.new(**fields)


async def store(pool: asyncpg.Pool, requests: list[CommerceProductRequested]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await products_out.on_product_requests(Tx(conn, SERVICE), requests)


@pytest.fixture
async def clean(pool: asyncpg.Pool) -> asyncpg.Pool:
    await pool.execute("TRUNCATE product_requests, _outbox")
    return pool


def sender(kit: Any, http: httpx.AsyncClient, pool: asyncpg.Pool) -> products_out.ProductSender:
    client = CommerceClient(kit.STORE_URL, SecretStr(kit.SIM_TOKEN), http=http, retry=RetryPolicy(3, 0.01, 0.05))
    return products_out.ProductSender(pool=pool, schema=kit.SCHEMA, producer=SERVICE, client=client, batch_size=5)


async def test_replicas_racing_for_one_skus_requests_make_one_product_and_answer_each_once(
        kit: Any, sim: tuple[httpx.AsyncClient, Any], clean: asyncpg.Pool) -> None:
    http, _ = sim
    sku = f"AMZ-{uuid.uuid4().hex[:8]}"
    requests = [requested(sku, name=f"Sender Tote {sku} {n}") for n in range(4)]
    await store(clean, requests)
    await store(clean, requests[:2])  # redelivered: stored once
    replicas = [sender(kit, http, clean), sender(kit, http, clean)]
    while sum(await asyncio.gather(*(r.send_once() for r in replicas))):
        pass
    r = await http.get(f"{kit.STORE_URL}/V1/products", headers={"Authorization": f"Bearer {kit.SIM_TOKEN}"},
                       params={"searchCriteria[filterGroups][0][filters][0][field]": "sku",
                               "searchCriteria[filterGroups][0][filters][0][value]": sku})
    [product] = r.json()["items"]
    assert product["name"] == f"Sender Tote {sku} 0"  # the first request made it; the others found it
    rows = await clean.fetch("SELECT request_id, outcome, commerce_product_id, duplicates FROM product_requests "
                             "ORDER BY seq")
    assert [(row["request_id"], row["outcome"]) for row in rows] == [
        (requests[0].event_id, "created"), *((q.event_id, "exists") for q in requests[1:])]
    assert {row["commerce_product_id"] for row in rows} == {product["id"]}
    assert [row["duplicates"] for row in rows] == [1, 1, 0, 0]
    answers = [decode(bytes(p["payload"]), topics.PRODUCT_RESULTS.event_type_names)
               for p in await clean.fetch("SELECT payload FROM _outbox ORDER BY id")]
    assert sorted((a.request_event_id, a.outcome) for a in answers if isinstance(a, CommerceProductResult)) == \
        sorted((row["request_id"], row["outcome"]) for row in rows)
    assert len(answers) == 4


async def test_a_claim_another_sender_holds_is_left_alone_until_it_runs_out(
        kit: Any, sim: tuple[httpx.AsyncClient, Any], clean: asyncpg.Pool) -> None:
    http, _ = sim
    request = requested(f"AMZ-{uuid.uuid4().hex[:8]}")
    await store(clean, [request])
    await clean.execute("UPDATE product_requests SET status = 'sending', claim = $1, "
                        "claimed_until = now() + interval '1 hour'", uuid.uuid4())
    worker = sender(kit, http, clean)
    assert await worker.send_once() == 0
    await clean.execute("UPDATE product_requests SET claimed_until = now() - interval '1 second'")
    assert await worker.send_once() == 1
    row = await clean.fetchrow("SELECT status, outcome, attempts FROM product_requests")
    assert (row["status"], row["outcome"], row["attempts"]) == ("done", "created", 1)
