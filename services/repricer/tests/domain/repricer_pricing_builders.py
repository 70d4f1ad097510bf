"""Small builders for the repricer domain tests: inputs read like the spec's examples."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from conditions import AttributeCondition, Combination
from contracts.events import FulfillmentChannel, Offer
from contracts.money import Money
from repricer.domain import (
    Adjustment,
    ApplyAs,
    CompetitorSource,
    Direction,
    IntelligentAction,
    ItemCondition,
    ListingPriceSettings,
    MarketSnapshot,
    OurListing,
    PriceBound,
    PriceDecision,
    PriceGuards,
    PriceHistory,
    PricingRule,
    ProductPriceData,
    StandardAction,
    decide,
)

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
OUR_SELLER = "A_OUR_SELLER"
NO_GUARDS = PriceGuards(enforce_band=False, limit_step=False, detect_price_war=False, skip_small_changes=False)


def usd(amount: str | int) -> Money:
    return Money(amount=Decimal(str(amount)), currency="USD")


def money(amount: str | int, currency: str) -> Money:
    return Money(amount=Decimal(str(amount)), currency=currency)


def settings(**fields: Any) -> ListingPriceSettings:
    base: dict[str, Any] = {"account_id": "acct-1", "marketplace_id": "ATVPDKIKX0DER", "marketplace_currency": "USD"}
    return ListingPriceSettings(**{**base, **fields})


def product(prices: dict[str, Any] | None = None, *, sku: str = "SKU-1", currency: str = "USD",
            websites: dict[str, dict[str, Any]] | None = None, **attributes: Any) -> ProductPriceData:
    return ProductPriceData(sku=sku, currency=currency, prices=prices or {},
                            website_prices=websites or {}, attributes=attributes)


def in_category(category: str) -> Combination:
    return Combination(conditions=[AttributeCondition(attribute="category_ids", operator="()", value=[category])])


def standard(name: str, direction: str, apply_as: str, amount: Any, *, priority: int | None = None,
             discard: bool = False, conditions: Combination | None = None, active: bool = True,
             from_date: date | None = None, to_date: date | None = None) -> PricingRule:
    return PricingRule(
        name=name, priority=priority, discard_subsequent=discard, conditions=conditions, active=active,
        from_date=from_date, to_date=to_date,
        action=StandardAction(direction=Direction(direction), apply_as=ApplyAs(apply_as), amount=amount),
    )


def intelligent(*, source: str = "buy_box", floor: PriceBound | None = None, ceiling: PriceBound | None = None,
                priority: int | None = 1, name: str = "reprice", **action: Any) -> PricingRule:
    return PricingRule(
        name=name, priority=priority,
        action=IntelligentAction(
            competitor_source=CompetitorSource(source),
            floor=floor or PriceBound(source_attribute="price", action=Adjustment.MATCH),
            ceiling=ceiling,
            **action,
        ),
    )


def offer(price: str, *, seller: str = "A_COMPETITOR", condition: str = "new", sub: str | None = "new",
          shipping: str = "0", buy_box: bool = False, ours: bool = False, rating: int | None = 99,
          count: int | None = 5000, currency: str = "USD") -> Offer:
    return Offer(
        seller_id=seller, is_ours=ours, condition=condition, sub_condition=sub,
        fulfillment_channel=FulfillmentChannel.MERCHANT,
        listing_price=money(price, currency), shipping=money(shipping, currency),
        feedback_rating=rating, feedback_count=count, is_buy_box_winner=buy_box,
    )


def market(*offers: Offer) -> MarketSnapshot:
    return MarketSnapshot(offers=list(offers), observed_at=NOW)


def ours(condition: ItemCondition = ItemCondition.NEW, shipping: Money | None = None) -> OurListing:
    return OurListing(seller_id=OUR_SELLER, condition=condition, shipping=shipping)


def price_of(prices: dict[str, Any] | None = None, rules: list[PricingRule] | None = None, *,
             store: ListingPriceSettings | None = None, item: ProductPriceData | None = None,
             snapshot: MarketSnapshot | None = None, listing: OurListing | None = None,
             history: PriceHistory | None = None, now: datetime = NOW,
             rates: dict[str, Decimal] | None = None, **decide_options: Any) -> PriceDecision:
    return decide(
        item or product(prices),
        store or settings(),
        rules or [],
        listing or ours(),
        now,
        market=snapshot,
        rates=rates or {},
        history=history,
        **decide_options,
    )
