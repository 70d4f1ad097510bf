"""The market: competitor offers on ASINs, their price moves, the Buy Box, and ANY_OFFER_CHANGED.

Each market ASIN (per marketplace) has competitors, FBA or merchant-fulfilled, in several
conditions, with feedback ratings and shipping. Our offer is no copy: it is every seller's listing
in the listing store with that ASIN and a price in that marketplace, so a patched price changes
the market at once. Competitors move on the market tick:

- `static` ones keep their price;
- `random` ones walk a few percent up or down now and then;
- `undercut` ones price one step under the lowest other offer of their condition, never below
  their floor (and never above their ceiling): two of them, or one and a repricer, make a price war.

After every change the Buy Box is computed again (lowest landed price among eligible New offers,
FBA and feedback breaking ties) and each seller with an offer on the ASIN gets an
ANY_OFFER_CHANGED shaped as Amazon's schema, for the condition of its offer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from amazon_sim.listings import Listing, ListingSnapshot, ListingStore, iso
from amazon_sim.notifications import NotificationHub, envelope, money

CENT = Decimal("0.01")
CONDITIONS = ("new", "used", "collectible", "refurbished", "club")
USED_GRADES = ("like_new", "very_good", "good", "acceptable")
MAX_OFFERS = 20  # Amazon sends the top 20 offers by landed price
BUY_BOX_MIN_FEEDBACK = 80
Strategy = Literal["static", "random", "undercut"]


class MarketSettings(BaseModel):
    asins: int = Field(default=0, ge=0, description="Listings (as they get a price) that get a market of "
                       "generated competitors automatically; more can be seeded at /_sim/market")
    competitors_min: int = Field(default=3, ge=0)
    competitors_max: int = Field(default=8, ge=0)
    undercut_share: float = Field(default=0.3, ge=0, le=1, description="Share of generated competitors "
                                  "that undercut")
    tick_seconds: float = Field(default=5.0, gt=0, description="Competitors move at most this often")
    move_probability: float = Field(default=0.3, ge=0, le=1, description="Chance a random walker moves per tick")
    move_percent: Decimal = Field(default=Decimal(3), ge=0, description="Largest random move, in percent")
    undercut_step: Decimal = Field(default=CENT, gt=0)
    our_feedback_rating: int = Field(default=98, ge=0, le=100)
    our_feedback_count: int = Field(default=1000, ge=0)
    seed: int | None = None


class CompetitorSpec(BaseModel):
    """A competitor as the admin API seeds or moves it; amounts are decimal strings or numbers."""

    sellerId: str = Field(min_length=1)
    price: Decimal = Field(gt=0)
    shipping: Decimal = Field(default=Decimal(0), ge=0)
    condition: str = "new"
    subCondition: str | None = None
    fulfilledByAmazon: bool = False
    floor: Decimal | None = Field(default=None, gt=0)
    ceiling: Decimal | None = Field(default=None, gt=0)
    strategy: Strategy = "static"
    feedbackRating: int = Field(default=95, ge=0, le=100)
    feedbackCount: int = Field(default=500, ge=0)
    shipsFrom: str = "US"


@dataclass
class Competitor:
    seller_id: str
    price: Decimal
    shipping: Decimal = Decimal(0)
    condition: str = "new"
    sub_condition: str = "new"
    fba: bool = False
    floor: Decimal | None = None
    ceiling: Decimal | None = None
    strategy: str = "static"
    feedback_rating: int = 95
    feedback_count: int = 500
    ships_from: str = "US"

    @classmethod
    def of(cls, spec: CompetitorSpec) -> Competitor:
        condition = spec.condition.lower()
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}")
        return cls(spec.sellerId, cents(spec.price), cents(spec.shipping), condition,
                   (spec.subCondition or ("new" if condition == "new" else "good")).lower(), spec.fulfilledByAmazon,
                   cents(spec.floor) if spec.floor else None, cents(spec.ceiling) if spec.ceiling else None,
                   spec.strategy, spec.feedbackRating, spec.feedbackCount, spec.shipsFrom)

    def clamp(self, price: Decimal) -> Decimal:
        price = max(price, self.floor or CENT, CENT)
        return min(price, self.ceiling) if self.ceiling else price

    def view(self) -> dict[str, Any]:
        return {"sellerId": self.seller_id, "price": str(self.price), "shipping": str(self.shipping),
                "condition": self.condition, "subCondition": self.sub_condition, "fulfilledByAmazon": self.fba,
                "floor": str(self.floor) if self.floor else None,
                "ceiling": str(self.ceiling) if self.ceiling else None,
                "strategy": self.strategy, "feedbackRating": self.feedback_rating,
                "feedbackCount": self.feedback_count}


@dataclass(frozen=True)
class MarketOffer:
    """One offer as buyers see it: a competitor's or one of the sellers' own listings."""

    seller_id: str
    condition: str
    sub_condition: str
    fba: bool
    price: Decimal
    shipping: Decimal
    feedback_rating: int
    feedback_count: int
    sku: str | None = None
    ships_from: str = "US"

    @property
    def landed(self) -> Decimal:
        return self.price + self.shipping

    @property
    def channel(self) -> str:
        return "Amazon" if self.fba else "Merchant"


@dataclass
class MarketAsin:
    marketplace_id: str
    asin: str
    currency: str
    competitors: dict[str, Competitor] = field(default_factory=dict)
    list_price: Decimal | None = None
    sales_rank: int = 1000
    fingerprint: tuple[Any, ...] | None = None
    buy_box: str | None = None
    notifications: int = 0


def cents(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def listing_condition(listing: Listing) -> tuple[str, str]:
    """(condition, sub condition) of a listing's `condition_type`, e.g. used_very_good -> (used, very_good)."""
    for entry in listing.attributes.get("condition_type") or []:
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(value, str) and "_" in value:
            family, grade = value.split("_", 1)
            if family in CONDITIONS:
                return family, grade
    return "new", "new"


def listing_is_fba(listing: Listing) -> bool:
    return any(str(e.get("fulfillment_channel_code", "DEFAULT")) != "DEFAULT"
               for e in listing.attributes.get("fulfillment_availability") or [] if isinstance(e, dict))


def buy_box_winner(offers: list[MarketOffer]) -> MarketOffer | None:
    """Lowest landed New offer among eligible sellers; at equal price FBA, then better feedback, wins."""
    eligible = [o for o in offers if o.condition == "new" and (o.fba or o.feedback_rating >= BUY_BOX_MIN_FEEDBACK)]
    if not eligible:
        return None
    return min(eligible, key=lambda o: (o.landed, not o.fba, -o.feedback_rating, o.seller_id))


def undercut_price(competitor: Competitor, others: list[MarketOffer], step: Decimal) -> Decimal:
    """One step under the lowest other landed price of its condition, within its floor and ceiling."""
    rivals = [o.landed for o in others if o.condition == competitor.condition and o.seller_id != competitor.seller_id]
    if not rivals:
        return competitor.ceiling or competitor.price
    return competitor.clamp(cents(min(rivals) - step - competitor.shipping))


def random_price(competitor: Competitor, rng: random.Random, percent: Decimal) -> Decimal:
    factor = Decimal(1) + Decimal(str(round(rng.uniform(-float(percent), float(percent)), 3))) / 100
    return competitor.clamp(cents(competitor.price * factor))


# --- ANY_OFFER_CHANGED ----------------------------------------------------------------------------------------

def _group(offers: list[MarketOffer]) -> dict[tuple[str, str], list[MarketOffer]]:
    groups: dict[tuple[str, str], list[MarketOffer]] = {}
    for o in offers:
        groups.setdefault((o.condition, o.channel), []).append(o)
    return groups


def _price_entry(o: MarketOffer, currency: str, with_channel: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"Condition": o.condition}
    if with_channel:
        entry["FulfillmentChannel"] = o.channel
    entry |= {"LandedPrice": money(o.landed, currency), "ListingPrice": money(o.price, currency),
              "Shipping": money(o.shipping, currency)}
    return entry


def _offer_entry(o: MarketOffer, currency: str, winner: MarketOffer | None, now: float) -> dict[str, Any]:
    hours = (0, 24) if o.fba else (24, 72)
    return {
        "SellerId": o.seller_id, "SubCondition": o.sub_condition,
        "SellerFeedbackRating": {"SellerPositiveFeedbackRating": o.feedback_rating, "FeedbackCount": o.feedback_count},
        "ShippingTime": {"MinimumHours": hours[0], "MaximumHours": hours[1], "AvailabilityType": "NOW",
                         "AvailableDate": iso(now)},
        "ListingPrice": money(o.price, currency), "Points": {"PointsNumber": 0},
        "Shipping": money(o.shipping, currency),
        "ShipsFrom": {"Country": o.ships_from, "State": "WA" if o.fba else "NY"}, "IsFulfilledByAmazon": o.fba,
        "IsBuyBoxWinner": o is winner,
        "PrimeInformation": {"IsOfferPrime": o.fba, "IsOfferNationalPrime": o.fba},
        "IsExpeditedShippingAvailable": o.fba, "IsFeaturedMerchant": o.fba or o.feedback_rating >= BUY_BOX_MIN_FEEDBACK,
        "ShipsDomestically": True, "ShipsInternationally": False,
    }


def any_offer_changed(market: MarketAsin, seller_id: str, condition: str, offers: list[MarketOffer],
                      change_type: str, now: float) -> dict[str, Any]:
    """The ANY_OFFER_CHANGED `seller_id` receives for `condition` of the ASIN, per Amazon's schema."""
    currency = market.currency
    winner = buy_box_winner(offers)
    groups = _group(offers)
    eligible = [o for o in offers if o.fba or o.feedback_rating >= BUY_BOX_MIN_FEEDBACK]
    lowest = min((o.landed for o in offers), default=None)
    list_price = market.list_price or cents(max((o.landed for o in offers), default=Decimal(10)) * Decimal("1.25"))
    summary = {
        "NumberOfOffers": [{"Condition": c, "FulfillmentChannel": ch, "OfferCount": len(os)}
                           for (c, ch), os in sorted(groups.items())],
        "LowestPrices": [_price_entry(min(os, key=lambda o: o.landed), currency, True)
                         for _, os in sorted(groups.items())],
        "BuyBoxPrices": [_price_entry(winner, currency, False)] if winner else [],
        "ListPrice": money(list_price, currency),
        "MinimumAdvertisedPrice": money(cents(list_price * Decimal("0.6")), currency),
        "SuggestedLowerPricePlusShipping": money(lowest if lowest is not None else list_price, currency),
        "TotalBuyBoxEligibleOffers": len(eligible),
        "SalesRankings": [{"ProductCategoryId": "home_garden_display_on_website", "Rank": market.sales_rank}],
        "NumberOfBuyBoxEligibleOffers": [
            {"Condition": c, "FulfillmentChannel": ch, "OfferCount": n}
            for (c, ch), os in sorted(_group(eligible).items()) if (n := len(os))],
        "CompetitivePriceThreshold": money(winner.landed if winner else list_price, currency),
    }
    shown = sorted((o for o in offers if o.condition == condition), key=lambda o: (o.landed, o.seller_id))[:MAX_OFFERS]
    payload = {"AnyOfferChangedNotification": {
        "SellerId": seller_id,
        "OfferChangeTrigger": {"MarketplaceId": market.marketplace_id, "ASIN": market.asin,
                               "ItemCondition": condition, "TimeOfOfferChange": iso(now),
                               "OfferChangeType": change_type},
        "Summary": summary,
        "Offers": [_offer_entry(o, currency, winner, now) for o in shown],
    }}
    return envelope("ANY_OFFER_CHANGED", payload, now)


# --- the market -------------------------------------------------------------------------------------------------

class Market:
    def __init__(self, listings: ListingStore, hub: NotificationHub, settings: MarketSettings | None = None,
                 currency_of: Callable[[str], str] = lambda _m: "USD") -> None:
        self.listings = listings
        self.hub = hub
        self.settings = settings or MarketSettings()
        self.currency_of = currency_of
        self.rng = random.Random(self.settings.seed)
        self.asins: dict[tuple[str, str], MarketAsin] = {}
        self.by_asin: dict[str, set[tuple[str, str]]] = {}
        self.generated = 0
        self.last_tick: float | None = None
        listings.listeners.append(self.on_listing_change)

    def reset(self) -> None:
        self.asins.clear()
        self.by_asin.clear()
        self.generated = 0
        self.last_tick = None

    # --- offers -------------------------------------------------------------------------------------------------
    def _our_listings(self, asin: str) -> list[Listing]:
        keys = self.by_asin.get(asin)
        if keys is None:  # first look at this ASIN: index what the store already holds
            keys = self.by_asin[asin] = {(x.seller_id, x.sku) for x in self.listings.items.values() if x.asin == asin}
        return [x for k in sorted(keys) if (x := self.listings.get(*k)) is not None and x.asin == asin]

    def sellers_offers(self, market: MarketAsin) -> list[MarketOffer]:
        """The offers of sellers' own listings on this ASIN: buyable with a price in this marketplace."""
        out = []
        for listing in self._our_listings(market.asin):
            if market.marketplace_id not in listing.marketplaces or "BUYABLE" not in listing.status():
                continue
            price = next((Decimal(o["price"]["amount"]) for o in listing.offers()
                          if o["marketplaceId"] == market.marketplace_id and o["offerType"] == "B2C"), None)
            if price is None:
                continue
            condition, grade = listing_condition(listing)
            out.append(MarketOffer(listing.seller_id, condition, grade, listing_is_fba(listing), price, Decimal("0.00"),
                                   self.settings.our_feedback_rating, self.settings.our_feedback_count, listing.sku))
        return out

    def offers(self, market: MarketAsin) -> list[MarketOffer]:
        competitors = [MarketOffer(c.seller_id, c.condition, c.sub_condition, c.fba, c.price, c.shipping,
                                   c.feedback_rating, c.feedback_count, ships_from=c.ships_from)
                       for c in market.competitors.values()]
        return competitors + self.sellers_offers(market)

    # --- seeding --------------------------------------------------------------------------------------------------
    def seed(self, marketplace_id: str, asin: str, competitors: list[Competitor], *, list_price: Decimal | None = None,
             now: float) -> MarketAsin:
        market = MarketAsin(marketplace_id, asin, self.currency_of(marketplace_id),
                            {c.seller_id: c for c in competitors}, list_price,
                            sales_rank=self.rng.randint(1, 200_000))
        self.asins[(marketplace_id, asin)] = market
        self.by_asin.pop(asin, None)
        self.publish_if_changed(market, now)
        return market

    def generate_competitors(self, reference: Decimal, count: int) -> list[Competitor]:
        """Competitors around a reference price: mixed conditions, channels, feedback and strategies."""
        out = []
        for i in range(count):
            condition = "new" if i % 3 != 2 else self.rng.choice(("used", "collectible", "refurbished"))
            grade = "new" if condition == "new" else self.rng.choice(USED_GRADES)
            fba = self.rng.random() < 0.4
            shipping = Decimal(0) if fba else cents(Decimal(self.rng.choice((0, 0, 399, 499, 599))) / 100)
            factor = Decimal(str(round(self.rng.uniform(0.9, 1.25), 3)))
            if condition != "new":
                factor *= Decimal("0.8")
            price = cents(reference * factor)
            strategy = "undercut" if self.rng.random() < self.settings.undercut_share else self.rng.choice(
                ("random", "random", "static"))
            out.append(Competitor(
                f"ASIM{self.rng.randrange(16**8):08X}", price, shipping, condition, grade, fba,
                floor=cents(reference * Decimal(str(round(self.rng.uniform(0.7, 0.95), 3)))),
                ceiling=cents(reference * Decimal("1.5")), strategy=strategy,
                feedback_rating=self.rng.choice((72, 85, 90, 95, 97, 99, 100)),
                feedback_count=self.rng.randint(10, 50_000)))
        if out and not any(c.strategy == "random" for c in out):
            out[0].strategy = "random"  # a generated market always has a price that moves on its own
        return out

    def _maybe_generate(self, listing: Listing, now: float) -> None:
        if self.generated >= self.settings.asins:
            return
        for offer in listing.offers():
            key = (offer["marketplaceId"], listing.asin)
            if offer["offerType"] != "B2C" or key in self.asins:
                continue
            low, high = self.settings.competitors_min, max(self.settings.competitors_min, self.settings.competitors_max)
            competitors = self.generate_competitors(Decimal(offer["price"]["amount"]), self.rng.randint(low, high))
            self.generated += 1
            self.seed(key[0], listing.asin, competitors, now=now)
            return

    # --- change -----------------------------------------------------------------------------------------------------
    def on_listing_change(self, seller_id: str, sku: str, before: ListingSnapshot | None, listing: Listing | None,
                          now: float) -> None:
        """A seller's listing changed (a patched price, a new listing): the markets of its ASIN react."""
        asin = listing.asin if listing is not None else (before.asin if before else "")
        marketplaces = set(listing.marketplaces if listing is not None else ())
        marketplaces |= set(before.marketplaces if before else ())
        if listing is not None:
            self.by_asin.setdefault(asin, set()).add((seller_id, sku))
            self._maybe_generate(listing, now)
        for marketplace in sorted(marketplaces):
            market = self.asins.get((marketplace, asin))
            if market is not None:
                self.publish_if_changed(market, now)

    def move(self, market: MarketAsin) -> bool:
        """One round of competitor moves; True when a price changed."""
        changed = False
        for competitor in market.competitors.values():
            if competitor.strategy == "undercut":
                price = undercut_price(competitor, self.offers(market), self.settings.undercut_step)
            elif competitor.strategy == "random" and self.rng.random() < self.settings.move_probability:
                price = random_price(competitor, self.rng, self.settings.move_percent)
            else:
                continue
            if price != competitor.price:
                competitor.price = price
                changed = True
        return changed

    def advance(self, now: float, force: bool = False) -> None:
        """The market's tick: competitors move at most every `tick_seconds` of simulator time."""
        if not force and self.last_tick is not None and now - self.last_tick < self.settings.tick_seconds:
            return
        self.last_tick = now
        for market in list(self.asins.values()):
            if self.move(market):
                self.publish_if_changed(market, now)

    def set_competitor(self, market: MarketAsin, competitor: Competitor, now: float) -> None:
        market.competitors[competitor.seller_id] = competitor
        self.publish_if_changed(market, now)

    def publish_if_changed(self, market: MarketAsin, now: float) -> int:
        """Notify every seller with an offer on the ASIN when its offers or Buy Box changed; returns how many."""
        offers = self.offers(market)
        winner = buy_box_winner(offers)
        fingerprint = tuple(sorted((o.seller_id, o.sku or "", o.condition, o.price, o.shipping) for o in offers))
        previous_fingerprint, previous_winner = market.fingerprint, market.buy_box
        market.fingerprint = fingerprint
        market.buy_box = winner.seller_id if winner else None
        if fingerprint == previous_fingerprint and market.buy_box == previous_winner:
            return 0
        if not self.hub.wants("ANY_OFFER_CHANGED"):
            return 0
        change_type = "Featured Offer" if market.buy_box != previous_winner and previous_fingerprint else "Internal"
        sent = 0
        ours = {(o.seller_id, o.condition) for o in offers if o.sku is not None}
        for seller_id, condition in sorted(ours):
            self.hub.publish(any_offer_changed(market, seller_id, condition, offers, change_type, now))
            sent += 1
        market.notifications += sent
        return sent

    def state(self, market: MarketAsin) -> dict[str, Any]:
        offers = self.offers(market)
        winner = buy_box_winner(offers)
        return {
            "marketplaceId": market.marketplace_id, "asin": market.asin, "currency": market.currency,
            "competitors": [c.view() for c in market.competitors.values()],
            "offers": [{"sellerId": o.seller_id, "sku": o.sku, "ours": o.sku is not None, "condition": o.condition,
                        "subCondition": o.sub_condition, "fulfillmentChannel": o.channel, "price": str(o.price),
                        "shipping": str(o.shipping), "landedPrice": str(o.landed),
                        "feedbackRating": o.feedback_rating}
                       for o in sorted(offers, key=lambda o: (o.landed, o.seller_id))],
            "buyBoxWinner": winner.seller_id if winner else None,
            "buyBoxPrice": str(winner.landed) if winner else None,
            "notifications": market.notifications,
        }
