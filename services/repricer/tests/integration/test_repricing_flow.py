"""The repricer against the real broker and PostgreSQL: configuration applied over HTTP,
products, listings and offers in, prices out; nothing emitted when nothing changed; our own
offer never moves our price; an older offer notification never overwrites a newer one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from contracts import Money, decode
from contracts.events import (
    FulfillmentChannel,
    ListingChanged,
    Offer,
    OfferPriceObserved,
    ProductChanged,
    ProductStatus,
)
from contracts.topics import COMPETITIVE_PRICES, LISTING_UPDATES, PRICES
from devstack.testing import auth_headers, eventually, publish, read_topic
from repricer.service import Settings, build

MARKET = "ATVPDKIKX0DER"
T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def offers(asin: str, buy_box: str, ours: str, at: datetime) -> OfferPriceObserved:
    return OfferPriceObserved.new(
        producer="amazon-gateway", marketplace_id=MARKET, asin=asin, observed_at=at,
        offers=[
            Offer(seller_id="RIVAL", is_ours=False, condition="new", fulfillment_channel=FulfillmentChannel.AMAZON,
                  listing_price=usd(buy_box), shipping=usd("0"), feedback_rating=97, feedback_count=900,
                  is_buy_box_winner=True),
            Offer(seller_id="ME", is_ours=True, condition="new", fulfillment_channel=FulfillmentChannel.MERCHANT,
                  listing_price=usd(ours), shipping=usd("0")),
        ])


async def test_offers_products_and_listings_to_prices(topics_created, database_url) -> None:
    run = uuid.uuid4().hex[:6]
    account, sku, asin = f"acct-{run}", f"SKU-{run}", f"B0{run.upper()}"
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             consumer_batch_timeout_ms=20))
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(service.asgi()), base_url="http://r") as client:
            applied = await client.post("/config:apply", json=[
                {"kind": "ListingPriceSettings", "metadata": {"name": f"{account}-us"},
                 "spec": {"account_id": account, "marketplace_id": MARKET, "marketplace_currency": "USD",
                          "seller_id": "ME"}},
                {"kind": "PricingRule", "metadata": {"name": f"buy-box-{run}"},
                 "spec": {"account_id": account, "priority": 1, "action": {
                     "type": "intelligent", "competitor_source": "buy_box",
                     "floor": {"source_attribute": "cost", "action": "increase", "percent": "5"}}}},
            ])
            assert applied.status_code == 200, applied.text
            bad = await client.put(f"/config/PricingRule/bad-{run}", json={"priority": 0, "action": {}})
            assert bad.status_code == 422 and "priority" in bad.text

            async def configured() -> bool:
                return (account, MARKET) in service.repricer.config.settings  # type: ignore[attr-defined]

            await eventually(configured, what="configuration reloaded")

            await publish(topics_created, [
                ProductChanged.new(producer="commerce-gateway", sku=sku, name="Bag", status=ProductStatus.ENABLED,
                                   price=usd("30"), quantity=5, attributes={"cost": "10"}, updated_at=T0),
                ListingChanged.new(producer="catalog-sync", account_id=account, marketplace_id=MARKET, sku=sku,
                                   product_sku=sku, asin=asin, status="Active", quantity=5, price=None, version=1,
                                   changes=[]),
            ])

            def mine(records):
                return [decode(r.value) for r in records if r.key.decode() == f"{account}|{MARKET}|{sku}"]

            first = await read_topic(topics_created, PRICES.name, until=lambda rs: len(mine(rs)) >= 1)
            assert [p.new_price.amount for p in mine(first)] == [Decimal("30")]

            undercut = offers(asin, "25.00", "30.00", T0 + timedelta(minutes=1))
            same_again = offers(asin, "25.00", "30.00", T0 + timedelta(minutes=2))
            only_ours_moved = offers(asin, "25.00", "24.00", T0 + timedelta(minutes=3))
            stale = offers(asin, "5.00", "30.00", T0)
            for notification in (undercut, same_again, only_ours_moved, stale):  # one batch each
                await publish(topics_created, [notification])

                async def handled(event_id=notification.event_id) -> bool:
                    return bool(await service.pool.fetchval("SELECT count(*) FROM _inbox WHERE event_id = $1",
                                                            event_id))

                await eventually(handled, what="offer notification handled")
            updates = await read_topic(topics_created, LISTING_UPDATES.name, until=lambda rs: len(mine(rs)) >= 2)
            competitive = await read_topic(topics_created, COMPETITIVE_PRICES.name, until=lambda rs: len(mine(rs)) >= 1)

            async def settled() -> bool:
                r = await client.get(f"/prices/{account}/{MARKET}/{sku}")
                return r.status_code == 200 and Decimal(r.json()["price"]["amount"]) == Decimal("25")

            await eventually(settled, what="price 25 decided")
            latest = (await client.get(f"/prices/{account}/{MARKET}/{sku}")).json()
            async def drained() -> bool:
                return await service.pool.fetchval("SELECT count(*) FROM _outbox") == 0

            await eventually(drained, what="outbox drained")
            prices = mine(await read_topic(topics_created, PRICES.name, until=lambda rs: len(mine(rs)) >= 2))
            missing = await client.get(f"/prices/{account}/{MARKET}/nope")
    finally:
        await service.stop()

    assert [(p.old_price.amount if p.old_price else None, p.new_price.amount) for p in prices] == [
        (None, Decimal("30")), (Decimal("30"), Decimal("25.00"))]
    assert prices[1].causation_id == undercut.event_id
    assert [u.price.amount for u in mine(updates)] == [Decimal("30"), Decimal("25.00")]
    assert {s.step for s in prices[1].trace} >= {"base_price", "competitor", "floor"}
    assert latest["decision"]["competitor"]["seller_id"] == "RIVAL"
    analysis = mine(competitive)[0]
    assert analysis.buy_box_landed_price == usd("25.00") and analysis.is_buy_box_winner is False
    assert missing.status_code == 404


async def test_a_rule_change_reprices_existing_listings(topics_created, database_url) -> None:
    run = uuid.uuid4().hex[:6]
    account, sku = f"rule-{run}", f"R-{run}"
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             consumer_batch_timeout_ms=20))
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(service.asgi()), base_url="http://r") as client:
            settings = {"kind": "ListingPriceSettings", "metadata": {"name": f"{account}-us"},
                        "spec": {"account_id": account, "marketplace_id": MARKET, "marketplace_currency": "USD",
                                 "seller_id": "ME"}}
            assert (await client.post("/config:apply", json=[settings])).status_code == 200
            await publish(topics_created, [
                ProductChanged.new(producer="commerce-gateway", sku=sku, name="Mat", status=ProductStatus.ENABLED,
                                   price=usd("40"), quantity=5, updated_at=T0),
                ListingChanged.new(producer="catalog-sync", account_id=account, marketplace_id=MARKET, sku=sku,
                                   product_sku=sku, asin=f"B1{run}", status="Active", quantity=5, price=None,
                                   version=1, changes=[]),
            ])

            async def priced(expected: str):
                async def check() -> bool:
                    r = await client.get(f"/prices/{account}/{MARKET}/{sku}")
                    return r.status_code == 200 and Decimal(r.json()["price"]["amount"]) == Decimal(expected)
                return check

            await eventually(await priced("40"), what="first price")
            rule = {"kind": "PricingRule", "metadata": {"name": f"ten-up-{run}"},
                    "spec": {"account_id": account, "priority": 1, "action": {
                        "type": "standard", "direction": "increase", "apply_as": "percent", "amount": "10"}}}
            assert (await client.post("/config:apply", json=[settings, rule])).status_code == 200
            await eventually(await priced("44"), what="repriced after the rule change")
            records = await read_topic(topics_created, PRICES.name, until=lambda rs: sum(
                r.key.decode() == f"{account}|{MARKET}|{sku}" for r in rs) >= 2)
    finally:
        await service.stop()
    prices = [decode(r.value) for r in records if r.key.decode() == f"{account}|{MARKET}|{sku}"]
    assert [p.new_price.amount for p in prices] == [Decimal("40"), Decimal("44.00")]


async def test_a_deleted_product_keeps_its_price_and_is_not_repriced(topics_created, database_url) -> None:
    run = uuid.uuid4().hex[:6]
    account, sku = f"del-{run}", f"D-{run}"
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             consumer_batch_timeout_ms=20))
    await service.start()
    try:
        async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(service.asgi()), base_url="http://r") as client:
            settings = {"kind": "ListingPriceSettings", "metadata": {"name": f"{account}-us"},
                        "spec": {"account_id": account, "marketplace_id": MARKET, "marketplace_currency": "USD",
                                 "seller_id": "ME"}}
            assert (await client.post("/config:apply", json=[settings])).status_code == 200
            await publish(topics_created, [
                ProductChanged.new(producer="commerce-gateway", sku=sku, name="Mat", status=ProductStatus.ENABLED,
                                   price=usd("40"), quantity=5, updated_at=T0),
                ListingChanged.new(producer="catalog-sync", account_id=account, marketplace_id=MARKET, sku=sku,
                                   product_sku=sku, asin=f"B2{run}", status="Active", quantity=5, price=None,
                                   version=1, changes=[]),
            ])

            async def priced() -> bool:
                r = await client.get(f"/prices/{account}/{MARKET}/{sku}")
                return r.status_code == 200 and Decimal(r.json()["price"]["amount"]) == Decimal("40")

            await eventually(priced, what="first price")
            deleted = ProductChanged.new(producer="commerce-gateway", sku=sku, name=sku, status=ProductStatus.DELETED,
                                         price=usd("0"), quantity=0, updated_at=T0 + timedelta(hours=1))
            await publish(topics_created, [deleted])

            async def handled() -> bool:
                return bool(await service.pool.fetchval("SELECT count(*) FROM _inbox WHERE event_id = $1",
                                                        deleted.event_id))

            await eventually(handled, what="deletion handled")

            async def drained() -> bool:
                return await service.pool.fetchval("SELECT count(*) FROM _outbox") == 0

            await eventually(drained, what="outbox drained")
            stored = await service.pool.fetchval("SELECT price FROM products WHERE sku = $1", sku)
            still = await priced()
            records = await read_topic(topics_created, PRICES.name, until=lambda rs: any(
                r.key.decode() == f"{account}|{MARKET}|{sku}" for r in rs))
    finally:
        await service.stop()
    assert stored == Decimal("40") and still
    assert sum(r.key.decode() == f"{account}|{MARKET}|{sku}" for r in records) == 1
