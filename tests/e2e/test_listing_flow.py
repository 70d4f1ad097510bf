"""The first flow across services, through the real broker and PostgreSQL.

Commerce product changes go to catalog-sync, which stores them and emits ListingChanged through
its outbox; reporting turns those into the listings read model and the Listing Changes Log,
served over HTTP. Thousands of events, duplicates and malformed messages among them, and
catalog-sync is killed with SIGKILL mid-stream and started again. Afterwards every valid change
has taken effect exactly once, every malformed message is in the dead-letter topic with its
reason, and nothing is lost.
"""

from __future__ import annotations

import json
import random
import signal
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from contracts import Money, decode, encode
from contracts.events import ProductChanged, ProductStatus
from contracts.topics import LISTINGS, PRODUCTS
from devstack.infra import free_port
from devstack.processes import Supervisor, service_spec, wait_ready
from devstack.testing import auth_headers, eventually, publish, read_topic

SKUS = 600
VERSIONS = 4


def product_change(run: str, n: int, version: int) -> ProductChanged:
    return ProductChanged.new(
        producer="commerce-gateway", sku=f"{run}-{n:04d}", name=f"Flow product {n}",
        status=ProductStatus.ENABLED, price=Money(amount=Decimal("19.99"), currency="USD"),
        quantity=10 * n + version,
        updated_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=version),
    )


def malformed_messages(run: str) -> dict[bytes, tuple[bytes, str]]:
    """key -> (value, the dead-letter kind expected)."""
    sample = json.loads(encode(product_change(run, 0, 1)))
    out: dict[bytes, tuple[bytes, str]] = {}
    for i in range(20):
        out[f"{run}-bad-json-{i}".encode()] = (b'{"event_id": "' + str(i).encode(), "malformed")
        unknown = {**sample, "event_id": str(uuid.uuid4()), "event_type": "ProductDeleted"}
        out[f"{run}-bad-type-{i}".encode()] = (json.dumps(unknown).encode(), "unknown_type")
        no_envelope = {k: v for k, v in sample.items() if k != "correlation_id"}
        out[f"{run}-bad-envelope-{i}".encode()] = (json.dumps(no_envelope).encode(), "envelope")
    return out


async def test_products_to_reporting_exactly_once_through_a_crash(topics_created, database_url, db, tmp_path) -> None:
    run = uuid.uuid4().hex[:6]
    account = f"flow-{run}"  # catalog-sync lists every product on the shared topic under it: look at ours
    changes = [product_change(run, n, v) for v in range(1, VERSIONS + 1) for n in range(SKUS)]
    rng = random.Random(run)
    duplicates = rng.sample(changes, 300)
    bad = malformed_messages(run)

    wire: list[tuple[str, bytes, bytes]] = [
        (PRODUCTS.name, PRODUCTS.key(e).encode(), encode(e)) for e in changes
    ]
    # duplicates arrive after their original, as a redelivery would
    for e in duplicates:
        at = wire.index((PRODUCTS.name, PRODUCTS.key(e).encode(), encode(e)))
        wire.insert(rng.randint(at + 1, len(wire)), (PRODUCTS.name, PRODUCTS.key(e).encode(), encode(e)))
    for key, (value, _) in bad.items():
        wire.insert(rng.randint(0, len(wire)), (PRODUCTS.name, key, value))
    half = len(wire) // 2

    sup = Supervisor(tmp_path)
    env = {"CATALOG_SYNC_TARGETS": f"{account}:ATVPDKIKX0DER", "CONSUMER_MAX_RECORDS": "100"}
    catalog = service_spec("catalog-sync", bootstrap=topics_created, database_url=database_url,
                           port=free_port(), extra_env=env)
    reporting = service_spec("reporting", bootstrap=topics_created, database_url=database_url,
                             port=free_port())
    reporting_proc = sup.start(reporting)
    catalog_proc = sup.start(catalog)
    try:
        wait_ready(reporting.ready_url or "", proc=reporting_proc)
        wait_ready(catalog.ready_url or "", proc=catalog_proc)
        handled_before = await db.fetchval("SELECT count(*) FROM catalog_sync._inbox")

        await publish(topics_created, wire[:half])

        async def midway() -> bool:
            n = await db.fetchval("SELECT count(*) FROM catalog_sync._inbox") - handled_before
            return n >= 300

        await eventually(midway, what="catalog-sync part way through")
        catalog_proc.send_signal(signal.SIGKILL)
        assert catalog_proc.wait(timeout=10) == -signal.SIGKILL
        handled_at_kill = await db.fetchval("SELECT count(*) FROM catalog_sync._inbox") - handled_before
        assert handled_at_kill < len(changes)

        await publish(topics_created, wire[half:])
        catalog_proc = sup.start(catalog)
        wait_ready(catalog.ready_url or "", proc=catalog_proc)

        base = reporting.ready_url.removesuffix("/readyz")  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=base, timeout=10, headers=auth_headers()) as client:
            async def all_reported() -> bool:
                page = (await client.get("/listings", params={"account_id": account, "limit": 1})).json()
                if page["total"] < SKUS:
                    return False
                done = await db.fetchval(
                    "SELECT count(*) FROM reporting.listings WHERE account_id = $1 AND version = $2 "
                    "AND sku LIKE $3", account, VERSIONS, f"{run}-%")
                return done == SKUS

            await eventually(all_reported, timeout=120, what="every listing at its last version")
            listings = []
            total = (await client.get("/listings", params={"account_id": account, "limit": 1})).json()["total"]
            for offset in range(0, total, 500):
                page = (await client.get("/listings", params={
                    "account_id": account, "limit": 500, "offset": offset})).json()
                listings += [x for x in page["items"] if x["sku"].startswith(f"{run}-")]
            log = []
            after = 0
            while True:
                rows = (await client.get("/listing-changes", params={
                    "account_id": account, "after_id": after, "limit": 1000})).json()
                if not rows:
                    break
                log += [x for x in rows if x["sku"].startswith(f"{run}-")]
                after = rows[-1]["id"]

        letters = await read_topic(topics_created, PRODUCTS.dlq, until=lambda rs: sum(
            r.key in bad for r in rs) >= len(bad), timeout=60)
        def ours(key: bytes) -> bool:
            return key.decode().startswith(f"{account}|ATVPDKIKX0DER|{run}-")

        emitted = await read_topic(topics_created, LISTINGS.name, until=lambda rs: len(
            {r.value for r in rs if ours(r.key)}) >= len(changes))
    finally:
        sup.stop_all()

    # every valid change took effect exactly once, in catalog-sync and in reporting
    by_cause: dict[str, set[str]] = {}
    for row in log:
        by_cause.setdefault(row["causation_id"], set()).add(row["event_id"])
    assert set(by_cause) == {str(e.event_id) for e in changes}
    assert all(len(ids) == 1 for ids in by_cause.values())
    quantity_rows = [r for r in log if r["field"] == "quantity"]
    assert len(quantity_rows) == len(changes)
    listing_events = {decode(r.value).event_id for r in emitted if ours(r.key)}
    assert len(listing_events) == len(changes)

    # the read model holds each SKU's last change
    assert len(listings) == SKUS
    expected = {f"{run}-{n:04d}": 10 * n + VERSIONS for n in range(SKUS)}
    assert {x["sku"]: x["quantity"] for x in listings} == expected
    assert {x["version"] for x in listings} == {VERSIONS}

    # every malformed message is in the dead-letter topic, unchanged, with its reason
    dead = {r.key: r for r in letters if r.key in bad}
    assert set(dead) == set(bad)
    for key, (value, kind) in bad.items():
        headers = dict(dead[key].headers)
        assert dead[key].value == value
        assert headers["dlq.kind"].decode() == kind
        assert headers["dlq.reason"]

    # nothing left behind
    assert await db.fetchval("SELECT count(*) FROM catalog_sync._outbox") == 0
