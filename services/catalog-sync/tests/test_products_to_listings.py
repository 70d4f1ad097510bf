"""catalog-sync against the real broker and PostgreSQL: stored once, re-emitted once, stale ignored."""

from __future__ import annotations

import uuid
from datetime import timedelta

from catalog_sync.service import CatalogSyncSettings, build
from contracts import decode
from contracts.topics import LISTINGS
from devstack.testing import eventually, publish, read_topic
from samples import product


async def test_products_become_listings_in_every_target(topics_created, database_url, db) -> None:
    run = uuid.uuid4().hex[:6]
    service = build(CatalogSyncSettings(
        kafka_bootstrap_servers=topics_created, database_url=database_url,
        catalog_sync_targets=f"{run}:ATVPDKIKX0DER,{run}:A1F83G8C2ARO7P", consumer_batch_timeout_ms=20,
    ))
    first = product(sku=f"{run}-1", quantity=5)
    later = product(sku=f"{run}-1", quantity=8, updated_at=first.updated_at + timedelta(minutes=1))
    stale = product(sku=f"{run}-1", quantity=1, updated_at=first.updated_at - timedelta(minutes=1))
    other = product(sku=f"{run}-2", quantity=0)
    await service.start()
    try:
        await publish(topics_created, [first, later, stale, first, other])
        # the service lists whatever is on the shared topic; this test looks at its own SKUs
        def mine(key: bytes) -> bool:
            account, _, sku = key.decode().split("|")
            return account == run and sku.startswith(f"{run}-")

        records = await read_topic(topics_created, LISTINGS.name,
                                   until=lambda rs: sum(mine(r.key) for r in rs) >= 6)

        async def drained() -> bool:
            return await db.fetchval("SELECT count(*) FROM catalog_sync._outbox") == 0

        await eventually(drained)
        rows = await db.fetch("SELECT * FROM catalog_sync.listings WHERE account_id = $1 "
                              "AND sku LIKE $1 || '-%' ORDER BY 2, 3", run)
    finally:
        await service.stop()

    events = [decode(r.value) for r in records if mine(r.key)]
    assert len(events) == 6  # 2 targets x (first, later, other); the stale and duplicate did nothing
    assert {(e.marketplace_id, e.sku, e.version, e.quantity) for e in events} == {
        (m, s, v, q) for m in ("ATVPDKIKX0DER", "A1F83G8C2ARO7P")
        for s, v, q in ((f"{run}-1", 1, 5), (f"{run}-1", 2, 8), (f"{run}-2", 1, 0))
    }
    assert {e.causation_id for e in events} == {first.event_id, later.event_id, other.event_id}
    assert [(r["marketplace_id"], r["sku"], r["quantity"], r["version"]) for r in rows] == [
        ("A1F83G8C2ARO7P", f"{run}-1", 8, 2), ("A1F83G8C2ARO7P", f"{run}-2", 0, 1),
        ("ATVPDKIKX0DER", f"{run}-1", 8, 2), ("ATVPDKIKX0DER", f"{run}-2", 0, 1),
    ]
