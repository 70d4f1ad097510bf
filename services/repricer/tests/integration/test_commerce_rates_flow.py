"""Commerce's currency rates against the real broker and PostgreSQL: a CurrencyRatesObserved makes a listing in
another currency convert at Commerce's rate; an older observation is ignored; a configured CurrencyRate overrides
Commerce's for its pair (in either direction) and, once deleted, Commerce's newest rate applies again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx

from contracts import Money, decode
from contracts.events import CurrencyRatesObserved, ListingChanged, ProductChanged, ProductStatus
from contracts.topics import PRICES
from devstack.testing import auth_headers, eventually, publish, read_topic
from repricer.service import Settings, build

MEXICO = "A1AM78C64UM0Y8"  # MXN: no other test or the demo configures a USD/MXN rate
# Later than any observation other tests publish on the shared topic (at their own now()): the newest rates of any
# installation win a pair, so this test's must be the newest.
T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)


def observed(commerce: str, mxn: str, at: datetime) -> CurrencyRatesObserved:
    return CurrencyRatesObserved.new(producer="commerce-gateway", commerce=commerce, base_currency="USD",
                                     default_display_currency="USD",
                                     rates={"USD": Decimal(1), "MXN": Decimal(mxn), "EUR": Decimal("0.92")},
                                     observed_at=at)


async def test_commerce_rates_convert_unless_a_rate_is_configured(topics_created, database_url) -> None:
    run = uuid.uuid4().hex[:6]
    account, sku, commerce = f"fx-{run}", f"FX-{run}", f"shop-{run}"
    key = f"{account}|{MEXICO}|{sku}"
    service = build(Settings(kafka_bootstrap_servers=topics_created, database_url=database_url,
                             consumer_batch_timeout_ms=20))
    await service.start()
    repricer = service.repricer  # type: ignore[attr-defined]
    try:
        async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(service.asgi()),
                                     base_url="http://r") as client:
            settings = {"kind": "ListingPriceSettings", "metadata": {"name": f"{account}-mx"},
                        "spec": {"account_id": account, "marketplace_id": MEXICO, "marketplace_currency": "MXN",
                                 "currency_conversion_enabled": True, "seller_id": "ME"}}
            assert (await client.post("/config:apply", json=[settings])).status_code == 200

            async def configured() -> bool:
                return (account, MEXICO) in repricer.config.settings
            await eventually(configured, what="settings loaded")
            await publish(topics_created, [
                ProductChanged.new(producer="commerce-gateway", sku=sku, name="Lamp", status=ProductStatus.ENABLED,
                                   price=Money(amount=Decimal("30"), currency="USD"), quantity=5, updated_at=T0),
                ListingChanged.new(producer="catalog-sync", account_id=account, marketplace_id=MEXICO, sku=sku,
                                   product_sku=sku, asin=f"B3{run}", status="Active", quantity=5, price=None,
                                   version=1, changes=[]),
            ])

            async def listed() -> bool:
                return bool(await service.pool.fetchval("SELECT count(*) FROM listings WHERE sku = $1", sku))
            await eventually(listed, what="listing stored")
            unpriced = await client.get(f"/prices/{account}/{MEXICO}/{sku}")  # no USD/MXN rate anywhere yet

            async def priced(expected: str):
                async def check() -> bool:
                    r = await client.get(f"/prices/{account}/{MEXICO}/{sku}")
                    return r.status_code == 200 and r.json()["price"] == {"amount": expected, "currency": "MXN"}
                return check

            newer = observed(commerce, "1.37", T0 + timedelta(hours=2))
            await publish(topics_created, [newer])
            await eventually(await priced("41.10"), what="converted at Commerce's 1.37")

            stale = observed(commerce, "2.00", T0 + timedelta(hours=1))
            await publish(topics_created, [stale])

            async def handled(event_id=stale.event_id) -> bool:
                return bool(await service.pool.fetchval("SELECT count(*) FROM _inbox WHERE event_id = $1", event_id))
            await eventually(handled, what="stale rates handled")
            kept = await service.pool.fetchrow(
                "SELECT rates->>'MXN' AS mxn, event_id FROM commerce_rates WHERE commerce = $1", commerce)

            override = {"kind": "CurrencyRate", "metadata": {"name": f"mxn-usd-{run}"},
                        "spec": {"from_currency": "MXN", "to_currency": "USD", "rate": "0.7"}}
            assert (await client.post("/config:apply", json=[settings, override])).status_code == 200
            await eventually(await priced("42.86"), what="converted at the configured 1/0.7")

            latest = observed(commerce, "1.40", T0 + timedelta(hours=3))
            await publish(topics_created, [latest])

            async def stored() -> bool:
                return await service.pool.fetchval(
                    "SELECT rates->>'MXN' FROM commerce_rates WHERE commerce = $1", commerce) == "1.40"
            await eventually(stored, what="newer rates stored")
            while_configured = dict(repricer.config.rates)
            shown = (await client.get("/rates", headers=auth_headers("read"))).json()
            assert (await client.delete(f"/config/CurrencyRate/mxn-usd-{run}")).status_code == 200
            await eventually(await priced("42.00"), what="Commerce's newest 1.40 once the override is gone")
            prices = await read_topic(topics_created, PRICES.name,
                                      until=lambda rs: sum(r.key.decode() == key for r in rs) >= 3)
    finally:
        await service.pool.execute("DELETE FROM commerce_rates WHERE commerce = $1", commerce)
        await service.stop()

    assert unpriced.status_code == 404
    assert (kept["mxn"], kept["event_id"]) == ("1.37", newer.event_id)
    assert while_configured["MXN/USD"] == Decimal("0.7") and "USD/MXN" not in while_configured
    assert while_configured["USD/EUR"] == Decimal("0.92")
    assert shown["in_use"]["MXN/USD"] == "0.7" and "USD/MXN" not in shown["in_use"]
    assert {"commerce": commerce, "base_currency": "USD", "rates": {"MXN": "1.40", "EUR": "0.92", "USD": "1"},
            "observed_at": latest.observed_at.isoformat()} in shown["commerce"]
    assert [decode(r.value).new_price.amount for r in prices if r.key.decode() == key] == [  # type: ignore[attr-defined]
        Decimal("41.10"), Decimal("42.86"), Decimal("42.00")]
