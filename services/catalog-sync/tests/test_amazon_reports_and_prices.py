"""catalog-sync against the real broker and PostgreSQL: Amazon's reports and the repricer's prices move listings."""

from __future__ import annotations

import uuid
from decimal import Decimal

from catalog_sync.service import CatalogSyncSettings, build
from contracts import decode
from contracts.events import AmazonListingObserved, ListingStatus, PriceChanged
from contracts.money import Money
from contracts.topics import LISTINGS
from devstack.testing import eventually, publish, read_topic
from samples import product

US = "ATVPDKIKX0DER"


async def test_import_matches_activates_and_prices_flow_into_listing_changes(topics_created, database_url, db) -> None:
    run = uuid.uuid4().hex[:6]
    service = build(CatalogSyncSettings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                                        catalog_sync_targets=f"{run}:{US}", consumer_batch_timeout_ms=20))
    sku, other = f"{run}-1", f"{run}-amz"
    usd = lambda a: Money(amount=Decimal(a), currency="USD")  # noqa: E731
    imported = [
        AmazonListingObserved.new(producer="amazon-gateway", account_id=run, marketplace_id=US, sku=sku,
                                  asin="B0RUN00001", status=["BUYABLE"], price=usd("40.00"), quantity=2,
                                  source="import"),
        AmazonListingObserved.new(producer="amazon-gateway", account_id=run, marketplace_id=US, sku=other,
                                  asin="B0RUN00002", status=["BUYABLE"], price=usd("12.00"), quantity=6,
                                  source="import"),
    ]
    price = PriceChanged.new(producer="repricer", account_id=run, marketplace_id=US, sku=sku,
                             old_price=usd("40.00"), new_price=usd("35.70"), trace=[])

    def mine(key: bytes) -> bool:
        # the service lists every product on the shared topic in its target; this test looks at its own SKUs
        account, _, listing_sku = key.decode().split("|")
        return account == run and listing_sku.startswith(f"{run}-")

    await service.start()
    try:
        await publish(topics_created, [product(sku=sku, quantity=5)])
        await eventually(lambda: db.fetchval("SELECT count(*) FROM catalog_sync.listings WHERE sku = $1", sku))
        await publish(topics_created, imported)
        await eventually(lambda: db.fetchval(
            "SELECT count(*) FROM catalog_sync.listings WHERE account_id = $1 AND asin IS NOT NULL", run))
        await publish(topics_created, [price, price])
        records = await read_topic(topics_created, LISTINGS.name,
                                   until=lambda rs: sum(mine(r.key) for r in rs) >= 4)
        rows = {r["sku"]: r for r in await db.fetch(
            "SELECT * FROM catalog_sync.listings WHERE account_id = $1", run)}
    finally:
        await service.stop()

    events = sorted((decode(r.value) for r in records if mine(r.key)), key=lambda e: (e.sku, e.version))
    assert [(e.sku, e.version, e.status, e.asin, e.quantity, e.price) for e in events] == [
        (sku, 1, ListingStatus.READY_TO_LIST, None, 5, None),
        (sku, 2, ListingStatus.ACTIVE, "B0RUN00001", 5, usd("40.00")),
        (sku, 3, ListingStatus.ACTIVE, "B0RUN00001", 5, usd("35.70")),
        (other, 1, ListingStatus.NEW_THIRD_PARTY, "B0RUN00002", 6, usd("12.00")),
    ]
    assert events[2].causation_id == price.event_id
    assert rows[sku]["price"] == Decimal("35.70") and list(rows[sku]["amazon_status"]) == ["BUYABLE"]
    assert rows[other]["product_sku"] is None
