"""`reprice` against the real PostgreSQL: what it stores and which events it returns when the
same listing is priced again with nothing changed, or with the competition changed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources

from contracts import Money
from contracts.events import CompetitivePriceObserved, FulfillmentChannel, Offer, PriceChanged
from repricer.config import PricingConfig, StoreSettings
from repricer.domain import MarketSnapshot
from repricer.repricing import reprice
from servicekit import db

MARKET = "ATVPDKIKX0DER"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def snapshot(buy_box: str, at: datetime) -> MarketSnapshot:
    return MarketSnapshot(observed_at=at, offers=[
        Offer(seller_id="RIVAL", is_ours=False, condition="new", fulfillment_channel=FulfillmentChannel.AMAZON,
              listing_price=usd(buy_box), shipping=usd("0"), feedback_rating=97, feedback_count=900,
              is_buy_box_winner=True),
        Offer(seller_id="ME", is_ours=True, condition="new", fulfillment_channel=FulfillmentChannel.MERCHANT,
              listing_price=usd("30"), shipping=usd("0")),
    ])


async def test_competition_is_emitted_only_when_it_changed(database_url) -> None:
    run = uuid.uuid4().hex[:8]
    account, sku, asin = f"writes-{run}", f"W-{run}", f"B9{run.upper()}"
    pool = await db.create_pool(database_url, "repricer")
    try:
        await db.migrate(pool, "repricer", resources.files("repricer") / "migrations")
        await pool.execute(
            "INSERT INTO products (sku, store_code, currency, price, attributes, website_attributes, updated_at) "
            "VALUES ($1, 'default', 'USD', 30, $2, '{}', $3)", sku, json.dumps({"cost": "10"}), NOW)
        await pool.execute(
            "INSERT INTO listings (account_id, marketplace_id, sku, product_sku, asin, condition, status, version) "
            "VALUES ($1, $2, $3, $3, $4, 'new_new', 'Active', 1)", account, MARKET, sku, asin)
        store = StoreSettings(account_id=account, marketplace_id=MARKET, marketplace_currency="USD", seller_id="ME")
        config = PricingConfig(settings={(account, MARKET): store})
        key = (account, MARKET, sku)

        async def priced(market: MarketSnapshot, at: datetime) -> list:
            async with pool.acquire() as conn, conn.transaction():
                return await reprice(conn, config, [key], at, markets={(MARKET, asin): market})

        first = await priced(snapshot("25.00", NOW), NOW)
        again = await priced(snapshot("25.00", NOW + timedelta(minutes=1)), NOW + timedelta(minutes=1))
        moved = await priced(snapshot("24.00", NOW + timedelta(minutes=2)), NOW + timedelta(minutes=2))
        stored = await pool.fetchval("SELECT competitive::text FROM prices WHERE account_id = $1", account)
    finally:
        await pool.close()

    assert [type(e).__name__ for e in first] == ["PriceChanged", "ListingUpdateRequested", "CompetitivePriceObserved"]
    assert isinstance(first[0], PriceChanged) and first[0].new_price == usd("30")
    assert again == []
    assert [type(e) for e in moved] == [CompetitivePriceObserved]
    assert moved[0].buy_box_landed_price == usd("24.00") and moved[0].our_price == usd("30")
    assert json.loads(stored)["buy_box"] == {"amount": "24.00", "currency": "USD"}
