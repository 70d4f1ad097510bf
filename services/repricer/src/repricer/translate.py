"""Between events, stored rows and the pricing domain. No I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from contracts import Money
from contracts.events import (
    CompetitivePriceObserved,
    ListingUpdateKind,
    ListingUpdateRequested,
    Offer,
    OfferPriceObserved,
    PriceChanged,
    ProductChanged,
)
from repricer.domain import (
    ItemCondition,
    MarketSnapshot,
    PriceChange,
    PriceDecision,
    PriceHistory,
    ProductPriceData,
)

SERVICE = "repricer"
HISTORY_KEPT = timedelta(hours=24)
HISTORY_MAX = 50


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def product_prices(sku: str, currency: str, price: Decimal, attributes: dict[str, str],
                   website_attributes: dict[str, dict[str, str]]) -> ProductPriceData:
    """Numeric attributes are price attributes (special_price, cost, msrp...); all attributes
    are available to rule conditions."""
    prices: dict[str, Decimal] = {k: d for k, v in attributes.items() if (d := _decimal(v)) is not None}
    prices["price"] = price
    websites = {
        site: {k: d for k, v in values.items() if (d := _decimal(v)) is not None}
        for site, values in website_attributes.items()
    }
    conditions: dict[str, Any] = {k: v for k, v in attributes.items() if k not in prices}
    if "category_ids" in conditions:
        conditions["category_ids"] = [c.strip() for c in str(conditions["category_ids"]).split(",") if c.strip()]
    return ProductPriceData(sku=sku, currency=currency, prices=prices, website_prices=websites,
                            attributes=conditions)


ProductKey = tuple[str, str, Decimal, str, str]
"""A stored product as the pricing reads it: sku, currency, price, attributes and website
attributes as JSON text."""

PRODUCTS_KEPT = 100_000
"""About 2.5 KB each: 100,000 products parsed take about 250 MB."""


def _parse_product(key: ProductKey) -> ProductPriceData:
    sku, currency, price, attributes, website_attributes = key
    return product_prices(sku, currency, price, json.loads(attributes), json.loads(website_attributes))


stored_product = lru_cache(maxsize=PRODUCTS_KEPT)(_parse_product)
"""The pricing view of a stored product. Products change far less often than offers, so the
parsed view of the most recently priced ones is kept (the key holds every stored column the view
reads, so a changed product is a new key)."""


def keep_products(count: int) -> None:
    """How many parsed products to keep (0: none); the ones kept so far are forgotten."""
    global stored_product
    stored_product = lru_cache(maxsize=count)(_parse_product)


def product_row(e: ProductChanged) -> tuple[Any, ...]:
    return (e.sku, e.store_code, e.price.currency, e.price.amount, json.dumps(e.attributes),
            json.dumps(e.website_attributes), e.updated_at)


def our_condition(text: str | None) -> ItemCondition:
    if not text:
        return ItemCondition.NEW
    try:
        return ItemCondition(text)
    except ValueError:
        return ItemCondition.NEW


def snapshot_json(e: OfferPriceObserved) -> str:
    """The offer set as the offers table keeps it: `[observed_at, [offer, ...]]`, each offer an
    array of its fields in `_OFFER_FIELDS` order. A third of the size of the offers as objects,
    which every notification writes and PostgreSQL would otherwise compress and store out of line."""
    return json.dumps([e.observed_at.isoformat(), [_offer_row(o) for o in e.offers]], separators=(",", ":"))


_OFFER_FIELDS = ("seller_id", "is_ours", "condition", "sub_condition", "fulfillment_channel", "listing_price",
                 "listing_currency", "shipping", "shipping_currency", "feedback_rating", "feedback_count",
                 "is_buy_box_winner", "is_prime")


def _offer_row(o: Offer) -> list[Any]:
    price, shipping = o.listing_price, o.shipping
    return [o.seller_id, o.is_ours, o.condition, o.sub_condition, o.fulfillment_channel.value,
            format(price.amount, "f"), price.currency, format(shipping.amount, "f"), shipping.currency,
            o.feedback_rating, o.feedback_count, o.is_buy_box_winner, o.is_prime]


def _offer_fields(row: list[Any]) -> dict[str, Any]:
    fields = dict(zip(_OFFER_FIELDS, row, strict=True))
    fields["listing_price"] = {"amount": fields["listing_price"], "currency": fields.pop("listing_currency")}
    fields["shipping"] = {"amount": fields["shipping"], "currency": fields.pop("shipping_currency")}
    return fields


def market_of(e: OfferPriceObserved) -> MarketSnapshot:
    return MarketSnapshot(offers=e.offers, observed_at=e.observed_at)


def market_from_json(text: str | None) -> MarketSnapshot | None:
    """A stored offer set; rows written before the compact form hold the offers as objects."""
    if not text:
        return None
    if text.startswith("{"):
        return MarketSnapshot.model_validate_json(text)
    observed_at, rows = json.loads(text)
    return MarketSnapshot.model_validate({"observed_at": observed_at, "offers": [_offer_fields(r) for r in rows]})


_CHANGES = TypeAdapter(list[PriceChange])
"""A listing's recent price changes as stored, read and written by pydantic-core in one call."""


def history_from_json(price: Decimal | None, currency: str | None, text: str | None) -> PriceHistory:
    live = Money(amount=price, currency=currency) if price is not None and currency else None
    changes = _CHANGES.validate_json(text) if text else []
    return PriceHistory(live_price=live, changes=changes)


def history_after(history: PriceHistory, decision: PriceDecision, now: datetime) -> str:
    change = PriceChange(at=now, old_price=history.current(), new_price=decision.price,
                         competitor_seller_id=decision.competitor.seller_id if decision.competitor else None)
    kept = [c for c in history.changes if c.at > now - HISTORY_KEPT][-(HISTORY_MAX - 1):]
    return _CHANGES.dump_json([*kept, change]).decode()


@dataclass(frozen=True)
class Competition:
    lowest: Money | None
    lowest_condition: str | None
    buy_box: Money | None
    buy_box_condition: str | None
    we_hold_buy_box: bool | None

    def as_dict(self, our_price: Money | None) -> dict[str, Any]:
        """What the prices table keeps (and /prices shows) of the competition."""
        return {
            "our_price": _money_json(our_price),
            "lowest": _money_json(self.lowest),
            "buy_box": _money_json(self.buy_box),
            "we_hold_buy_box": self.we_hold_buy_box,
        }

    def as_json(self, our_price: Money | None) -> str:
        return json.dumps(self.as_dict(our_price), sort_keys=True)


def _money_json(money: Money | None) -> dict[str, str] | None:
    return {"amount": format(money.amount, "f"), "currency": money.currency} if money is not None else None


def stored_competition(text: str | None) -> dict[str, Any] | None:
    """The competition as stored: PostgreSQL returns jsonb with its own key order and spacing, so
    it is compared as data, not as text."""
    return json.loads(text) if text else None


def landed(offer: Offer) -> Money:
    return Money(amount=offer.listing_price.amount + offer.shipping.amount,
                 currency=offer.listing_price.currency)


def competition(market: MarketSnapshot | None, seller_id: str) -> Competition:
    """Lowest and Buy Box landed prices among the others' offers, and whether we hold the Buy Box
    (None when nobody does)."""
    if market is None:
        return Competition(None, None, None, None, None)
    others = [o for o in market.offers if not o.is_ours and o.seller_id != seller_id]
    cheapest = min(others, key=lambda o: o.listing_price.amount + o.shipping.amount, default=None)
    winner = next((o for o in market.offers if o.is_buy_box_winner), None)
    ours = winner is not None and (winner.is_ours or winner.seller_id == seller_id)
    return Competition(
        lowest=landed(cheapest) if cheapest else None,
        lowest_condition=cheapest.condition if cheapest else None,
        buy_box=landed(winner) if winner else None,
        buy_box_condition=winner.condition if winner else None,
        we_hold_buy_box=None if winner is None else ours,
    )


def price_events(key: tuple[str, str, str], asin: str | None, decision: PriceDecision,
                 now: datetime, cause: Any | None) -> list[Any]:
    account_id, marketplace_id, sku = key
    changed = PriceChanged.new(
        producer=SERVICE, caused_by=cause, account_id=account_id, marketplace_id=marketplace_id,
        sku=sku, old_price=decision.previous_price, new_price=decision.price,
        business_price=decision.business_price, trace=decision.trace,
    )
    update = ListingUpdateRequested.new(
        producer=SERVICE, caused_by=changed, account_id=account_id, marketplace_id=marketplace_id,
        sku=sku, kind=ListingUpdateKind.PRICE, price=decision.price,
        attributes=_price_attributes(decision), requested_at=now,
    )
    return [changed, update]


def _price_attributes(decision: PriceDecision) -> dict[str, str]:
    out: dict[str, str] = {}
    if decision.strike_through is not None:
        out["list_price"] = str(decision.strike_through.amount)
    if decision.business_price is not None:
        out["business_price"] = str(decision.business_price.amount)
    for tier in decision.tiers:
        out[f"quantity_price_{tier.min_quantity}"] = str(tier.price.amount)
    return out


def competitive_event(key: tuple[str, str, str], asin: str, our_price: Money | None, c: Competition,
                      observed_at: datetime, cause: Any | None) -> CompetitivePriceObserved:
    account_id, marketplace_id, sku = key
    return CompetitivePriceObserved.new(
        producer=SERVICE, caused_by=cause, account_id=account_id, marketplace_id=marketplace_id,
        sku=sku, asin=asin, our_price=our_price, lowest_landed_price=c.lowest,
        lowest_condition=c.lowest_condition, buy_box_landed_price=c.buy_box,
        buy_box_condition=c.buy_box_condition, is_buy_box_winner=c.we_hold_buy_box,
        observed_at=observed_at,
    )
