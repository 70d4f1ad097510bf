"""The market: competitors move and react to our price, the Buy Box follows, every change is notified."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_sim import SimConfig, create_app
from amazon_sim.market import (
    Competitor,
    MarketOffer,
    MarketSettings,
    buy_box_winner,
    random_price,
    undercut_price,
)
from amazon_sim.testing import ACCOUNT, OTHER, SELLER, US, Sim, free_port, wait_until_serving

D = Decimal


@pytest.fixture
async def market_sim() -> AsyncIterator[Sim]:
    app = create_app(SimConfig(accounts=[ACCOUNT, OTHER], seed=3, market=MarketSettings(seed=5, tick_seconds=1)),
                     background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        s = Sim(client)
        s.app = app  # type: ignore[attr-defined]
        await s.login()
        yield s


async def put_listing(sim: Sim, sku: str, price: str, quantity: int = 5, seller: str = SELLER) -> dict[str, Any]:
    r = await sim.client.put(f"/_sim/listings/{seller}/{sku}", json={"productType": "HOME", "attributes": {
        "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                               "our_price": [{"schedule": [{"value_with_tax": price}]}]}],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}]}})
    assert r.status_code == 200, r.text
    return r.json()


async def patch_price(sim: Sim, sku: str, price: str) -> None:
    r = await sim.call("PATCH", f"/listings/2021-08-01/items/{SELLER}/{sku}", params={"marketplaceIds": US}, json={
        "productType": "HOME", "patches": [{"op": "replace", "path": "/attributes/purchasable_offer", "value": [
            {"marketplace_id": US, "currency": "USD", "our_price": [{"schedule": [{"value_with_tax": price}]}]}]}]})
    assert r.status_code == 200 and r.json()["status"] == "ACCEPTED", r.text


async def offers_notified(sim: Sim) -> list[dict[str, Any]]:
    r = await sim.client.get("/_sim/notifications", params={"type": "ANY_OFFER_CHANGED", "limit": 1000})
    return [d["Payload"]["AnyOfferChangedNotification"] for d in r.json()["notifications"]]


def price_of(notification: dict[str, Any], seller: str) -> Decimal:
    return next(D(str(o["ListingPrice"]["Amount"])) for o in notification["Offers"] if o["SellerId"] == seller)


async def tick(sim: Sim) -> dict[str, Any]:
    r = await sim.client.post("/_sim/market/tick")
    assert r.status_code == 200
    return r.json()


# ---------------------------------------------------------------- pure rules


def offer(seller: str, price: str, *, fba: bool = False, rating: int = 95, condition: str = "new",
          shipping: str = "0") -> MarketOffer:
    return MarketOffer(seller, condition, "new", fba, D(price), D(shipping), rating, 100)


def test_buy_box_goes_to_the_lowest_landed_eligible_new_offer() -> None:
    offers = [offer("CHEAP-BAD-FEEDBACK", "8", rating=60), offer("USED", "5", condition="used"),
              offer("MERCHANT", "9", shipping="2"), offer("FBA", "10.50")]
    assert buy_box_winner(offers).seller_id == "FBA"  # 10.50 landed beats 11.00; the 8.00 seller is ineligible
    assert buy_box_winner([offer("M", "10"), offer("F", "10", fba=True)]).seller_id == "F"
    assert buy_box_winner([offer("USED", "5", condition="used")]) is None


def test_undercutter_goes_one_step_under_the_lowest_rival_and_stops_at_its_floor() -> None:
    c = Competitor("U", D("30"), shipping=D("2"), floor=D("15"), ceiling=D("40"), strategy="undercut")
    assert undercut_price(c, [offer("OURS", "20")], D("0.01")) == D("17.99")  # 17.99 + 2 shipping = 19.99 landed
    assert undercut_price(c, [offer("OURS", "10")], D("0.01")) == D("15")
    assert undercut_price(c, [], D("0.01")) == D("40")
    assert undercut_price(c, [offer("OURS", "20", condition="used")], D("0.01")) == D("40")


@settings(max_examples=200, deadline=None)
@given(price=st.decimals("0.01", "1000", places=2), floor=st.decimals("0.01", "500", places=2),
       extra=st.decimals("0", "500", places=2), rival=st.decimals("0.01", "2000", places=2), seed=st.integers(0, 99))
def test_competitor_prices_never_leave_their_band(price: Decimal, floor: Decimal, extra: Decimal, rival: Decimal,
                                                  seed: int) -> None:
    c = Competitor("C", price, floor=floor, ceiling=floor + extra, strategy="undercut")
    for moved in (undercut_price(c, [offer("R", str(rival))], D("0.01")),
                  random_price(c, random.Random(seed), D(5))):
        assert floor <= moved <= floor + extra
        assert moved == moved.quantize(D("0.01"))


# ---------------------------------------------------------------- through the simulator


async def test_market_for_our_sku_lists_our_offer_and_competitors(market_sim: Sim) -> None:
    listing = await put_listing(market_sim, "MK-1", "20.00")
    r = await market_sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "MK-1", "competitors": [
        {"sellerId": "FBA1", "price": "21.00", "fulfilledByAmazon": True, "feedbackRating": 99},
        {"sellerId": "MFN1", "price": "18.00", "shipping": "4.99", "feedbackRating": 91},
        {"sellerId": "USED1", "price": "12.00", "condition": "used", "subCondition": "very_good"}]})
    assert r.status_code == 201, r.text
    state = r.json()
    assert state["asin"] == listing["asin"]
    ours = [o for o in state["offers"] if o["ours"]]
    assert ours == [{**ours[0], "sellerId": SELLER, "sku": "MK-1", "price": "20.00"}]
    assert {o["sellerId"] for o in state["offers"]} == {SELLER, "FBA1", "MFN1", "USED1"}
    assert state["buyBoxWinner"] == SELLER  # 20.00 landed beats 21.00 and 22.99
    notified = await offers_notified(market_sim)
    assert len(notified) == 1 and notified[0]["SellerId"] == SELLER
    assert notified[0]["OfferChangeTrigger"]["ASIN"] == listing["asin"]
    # The notification is for the condition of our offer: the used offer is counted, not listed.
    assert {o["SellerId"] for o in notified[0]["Offers"]} == {SELLER, "FBA1", "MFN1"}
    assert {(n["Condition"], n["FulfillmentChannel"]) for n in notified[0]["Summary"]["NumberOfOffers"]} == {
        ("new", "Amazon"), ("new", "Merchant"), ("used", "Merchant")}


async def test_patching_our_price_changes_the_market_and_notifies(market_sim: Sim) -> None:
    listing = await put_listing(market_sim, "MK-2", "20.00")
    await market_sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "MK-2", "competitors": [
        {"sellerId": "FBA1", "price": "19.00", "fulfilledByAmazon": True}]})
    assert (await market_sim.client.get(f"/_sim/market/{US}/{listing['asin']}")).json()["buyBoxWinner"] == "FBA1"
    await patch_price(market_sim, "MK-2", "18.50")
    notified = await offers_notified(market_sim)
    assert price_of(notified[-1], SELLER) == D("18.50")
    assert notified[-1]["OfferChangeTrigger"]["OfferChangeType"] == "Featured Offer"
    assert [o["SellerId"] for o in notified[-1]["Offers"] if o["IsBuyBoxWinner"]] == [SELLER]
    state = (await market_sim.client.get(f"/_sim/market/{US}/{listing['asin']}")).json()
    assert state["buyBoxWinner"] == SELLER


async def test_undercutting_competitor_wages_a_price_war_down_to_its_floor(market_sim: Sim) -> None:
    listing = await put_listing(market_sim, "MK-3", "20.00")
    await market_sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "MK-3", "competitors": [
        {"sellerId": "UNDER", "price": "25.00", "floor": "17.00", "strategy": "undercut"}]})
    state = await tick(market_sim)
    mine = next(s for s in state["asins"] if s["asin"] == listing["asin"])
    assert next(c for c in mine["competitors"] if c["sellerId"] == "UNDER")["price"] == "19.99"
    assert mine["buyBoxWinner"] == "UNDER"
    # A repricer answers one cent lower, the competitor answers again... until its floor holds.
    our = D("19.98")
    for _ in range(3):
        await patch_price(market_sim, "MK-3", str(our))
        await tick(market_sim)
        notified = await offers_notified(market_sim)
        assert price_of(notified[-1], "UNDER") == our - D("0.01")
        our -= D("0.02")
    await patch_price(market_sim, "MK-3", "15.00")
    await tick(market_sim)
    assert price_of((await offers_notified(market_sim))[-1], "UNDER") == D("17.00")


async def test_moving_a_competitor_by_admin_notifies_with_its_new_price(market_sim: Sim) -> None:
    listing = await put_listing(market_sim, "MK-4", "20.00")
    await market_sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "MK-4", "competitors": [
        {"sellerId": "C1", "price": "22.00", "shipping": "1.00"}]})
    r = await market_sim.client.put(f"/_sim/market/{US}/{listing['asin']}/competitors/C1", json={"price": "19.49"})
    assert r.status_code == 200, r.text
    last = (await offers_notified(market_sim))[-1]
    assert price_of(last, "C1") == D("19.49")
    c1 = next(o for o in last["Offers"] if o["SellerId"] == "C1")
    assert D(str(c1["Shipping"]["Amount"])) == D("1.00")  # unchanged fields stay
    lowest = {(x["Condition"], x["FulfillmentChannel"]): D(str(x["LandedPrice"]["Amount"]))
              for x in last["Summary"]["LowestPrices"]}
    assert lowest[("new", "Merchant")] == D("20.00")  # ours (20.00) is lower than C1's 19.49 + 1.00
    bad = await market_sim.client.put(f"/_sim/market/{US}/{listing['asin']}/competitors/C1", json={"price": "-1"})
    assert bad.status_code == 422
    missing = await market_sim.client.put(f"/_sim/market/{US}/NOSUCH/competitors/C1", json={"price": "1"})
    assert missing.status_code == 404


async def test_nothing_is_notified_when_nothing_changed(market_sim: Sim) -> None:
    await put_listing(market_sim, "MK-5", "20.00")
    await market_sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "MK-5", "competitors": [
        {"sellerId": "STATIC", "price": "30.00", "strategy": "static"}]})
    before = len(await offers_notified(market_sim))
    await tick(market_sim)
    await patch_price(market_sim, "MK-5", "20.00")  # same price again
    assert len(await offers_notified(market_sim)) == before


async def test_other_sellers_on_the_asin_are_notified_for_their_own_offers(market_sim: Sim) -> None:
    listing = await put_listing(market_sim, "MK-6", "20.00")
    r = await market_sim.client.put(f"/_sim/listings/{OTHER.seller_id}/OTHER-6", json={
        "productType": "HOME", "attributes": {
            "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                                   "our_price": [{"schedule": [{"value_with_tax": "21"}]}]}],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 1}]}})
    assert r.status_code == 200
    market_sim.app.state.sim.listings.get(OTHER.seller_id, "OTHER-6").asin = listing["asin"]  # type: ignore[attr-defined]
    await market_sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "MK-6"})
    notified = await offers_notified(market_sim)
    assert {n["SellerId"] for n in notified[-2:]} == {SELLER, OTHER.seller_id}


async def test_configured_number_of_asins_get_generated_markets() -> None:
    config = SimConfig(accounts=[ACCOUNT], seed=1,
                       market=MarketSettings(asins=2, competitors_min=4, competitors_max=6, seed=9))
    app = create_app(config, background=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test") as client:
        sim = Sim(client)
        for i in range(3):
            await put_listing(sim, f"GEN-{i}", f"{10 + i}.00")
        markets = (await client.get("/_sim/market")).json()["asins"]
        assert len(markets) == 2
        for m in markets:
            assert 4 <= len(m["competitors"]) <= 6
            assert any(o["ours"] for o in m["offers"])
        competitors = [c for m in markets for c in m["competitors"]]
        assert {c["fulfilledByAmazon"] for c in competitors} == {True, False}
        assert len({c["condition"] for c in competitors}) > 1
        assert all(D(c["floor"]) <= D(c["ceiling"]) for c in competitors)
        assert all(any(c["strategy"] == "random" for c in m["competitors"]) for m in markets)
        # Over many ticks the random walkers move, and every price stays within its band.
        before = {c["sellerId"]: c["price"] for c in competitors}
        for _ in range(20):
            markets = (await client.post("/_sim/market/tick")).json()["asins"]
        after = [c for m in markets for c in m["competitors"]]
        assert any(before[c["sellerId"]] != c["price"] for c in after)
        assert all(D(c["floor"]) <= D(c["price"]) <= D(c["ceiling"]) for c in after if c["strategy"] != "static")


async def test_market_tick_follows_simulator_time(market_sim: Sim) -> None:
    listing = await put_listing(market_sim, "MK-7", "20.00")
    await market_sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "MK-7", "competitors": [
        {"sellerId": "UNDER", "price": "25.00", "floor": "10.00", "strategy": "undercut"}]})
    await market_sim.client.post("/_sim/clock/advance", json={"seconds": 2})  # more than tick_seconds=1
    state = (await market_sim.client.get(f"/_sim/market/{US}/{listing['asin']}")).json()
    assert next(c for c in state["competitors"] if c["sellerId"] == "UNDER")["price"] == "19.99"


async def test_seeding_needs_an_asin_or_a_known_listing(market_sim: Sim) -> None:
    assert (await market_sim.client.post("/_sim/market", json={})).status_code == 400
    r = await market_sim.client.post("/_sim/market", json={"sellerId": SELLER, "sku": "NOPE"})
    assert r.status_code == 404
    r = await market_sim.client.post("/_sim/market", json={"asin": "B0X", "competitors": [
        {"sellerId": "C", "price": "5", "condition": "broken"}]})
    assert r.status_code == 400 and "condition" in r.json()["error"]


def test_running_module_moves_its_market_and_pushes_notifications() -> None:
    """`python -m amazon_sim --market-asins 1 --market-tick 0.2 --push-url ...`: the background ticker moves
    the generated market by itself, and every notification is POSTed to the URL."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "amazon_sim", "--port", str(port), "--seed", "2",
                             "--market-asins", "1", "--market-tick", "0.2",
                             "--push-url", f"http://127.0.0.1:{hook.server_address[1]}/notifications"])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base)
        r = httpx.put(f"{base}/_sim/listings/A1SIMSELLER0001/RUN-1", json={"productType": "HOME", "attributes": {
            "purchasable_offer": [{"marketplace_id": US, "currency": "USD",
                                   "our_price": [{"schedule": [{"value_with_tax": "25.00"}]}]}],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 3}]}})
        assert r.status_code == 200, r.text
        first = httpx.get(f"{base}/_sim/market").json()["asins"]
        assert len(first) == 1 and first[0]["competitors"]
        prices = {c["sellerId"]: c["price"] for c in first[0]["competitors"]}
        deadline = time.monotonic() + 10
        moved = False
        while time.monotonic() < deadline and not moved:
            time.sleep(0.2)
            now = httpx.get(f"{base}/_sim/market").json()["asins"][0]["competitors"]
            moved = any(prices[c["sellerId"]] != c["price"] for c in now)
        assert moved, "no competitor moved on the background tick"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len({d["NotificationType"] for d in received}) < 2:
            time.sleep(0.1)
        kinds = {d["NotificationType"] for d in received}
        assert {"LISTINGS_ITEM_STATUS_CHANGE", "ANY_OFFER_CHANGED"} <= kinds
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        hook.shutdown()


@given(seed=st.integers(0, 10_000), count=st.integers(1, 8))
def test_a_generated_market_always_has_a_price_that_moves_on_its_own(seed: int, count: int) -> None:
    """Without a random walker a generated market could sit still for ever (three of one's competitors
    had all come out static or undercutting at the floor on some seeds)."""
    from amazon_sim.listings import ListingStore
    from amazon_sim.market import Market
    from amazon_sim.notifications import NotificationHub, NotificationSettings

    market = Market(ListingStore(), NotificationHub(NotificationSettings()), MarketSettings(seed=seed))
    competitors = market.generate_competitors(D("25.00"), count)
    assert len(competitors) == count and any(c.strategy == "random" for c in competitors)
