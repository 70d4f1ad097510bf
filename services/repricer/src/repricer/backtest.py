"""Replay a recorded stream of offer events through a rule set: the prices it would have set
and the share of observations where we would have had the lowest landed price (our Buy Box
chance). `python -m repricer backtest --config pricing.yaml --catalog catalog.yaml --offers offers.jsonl`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from contracts import Money
from contracts.events import OfferPriceObserved
from repricer.config import PricingConfig
from repricer.domain import (
    ItemCondition,
    MarketSnapshot,
    OurListing,
    PriceChange,
    PriceHistory,
    PricingError,
    ProductPriceData,
    decide,
)
from repricer.translate import competition


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str
    marketplace_id: str
    sku: str
    asin: str
    condition: ItemCondition = ItemCondition.NEW
    product: ProductPriceData


@dataclass
class ListingResult:
    sku: str
    asin: str
    observations: int = 0
    changes: int = 0
    lowest_held: int = 0
    prices: list[Decimal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def buy_box_share(self) -> float:
        return self.lowest_held / self.observations if self.observations else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "sku": self.sku, "asin": self.asin, "observations": self.observations,
            "price_changes": self.changes,
            "first_price": str(self.prices[0]) if self.prices else None,
            "final_price": str(self.prices[-1]) if self.prices else None,
            "min_price": str(min(self.prices)) if self.prices else None,
            "max_price": str(max(self.prices)) if self.prices else None,
            "buy_box_share": round(self.buy_box_share, 4), "errors": self.errors[:5],
        }


def backtest(config: PricingConfig, catalog: Iterable[CatalogEntry],
             offers: Iterable[OfferPriceObserved]) -> dict[str, object]:
    entries = list(catalog)
    by_asin: dict[tuple[str, str], list[CatalogEntry]] = {}
    for entry in entries:
        by_asin.setdefault((entry.marketplace_id, entry.asin), []).append(entry)
    results = {e.sku: ListingResult(e.sku, e.asin) for e in entries}
    histories = {e.sku: PriceHistory() for e in entries}

    for event in sorted(offers, key=lambda e: e.observed_at):
        market = MarketSnapshot(offers=event.offers, observed_at=event.observed_at)
        for entry in by_asin.get((event.marketplace_id, event.asin), []):
            settings = config.settings.get((entry.account_id, entry.marketplace_id))
            result = results[entry.sku]
            if settings is None:
                result.errors.append(f"no settings for {entry.account_id}/{entry.marketplace_id}")
                continue
            ours = OurListing(seller_id=settings.seller_id, condition=entry.condition)
            history = histories[entry.sku]
            try:
                decision = decide(entry.product, settings, config.rules_for(entry.account_id, entry.marketplace_id),
                                  ours, event.observed_at, market=market, rates=config.rates, history=history)
            except PricingError as exc:
                result.errors.append(str(exc))
                continue
            live = history.current()
            price = live or decision.price
            if decision.send and decision.price != live:
                result.changes += 1
                price = decision.price
                histories[entry.sku] = PriceHistory(live_price=price, changes=[*history.changes[-49:], PriceChange(
                    at=event.observed_at, old_price=live, new_price=price,
                    competitor_seller_id=decision.competitor.seller_id if decision.competitor else None)])
            result.observations += 1
            result.prices.append(price.amount)
            lowest = competition(market, settings.seller_id).lowest
            if lowest is None or _landed(price, settings.seller_id, market) <= lowest.amount:
                result.lowest_held += 1

    listed = [r for r in results.values() if r.observations]
    total = sum(r.observations for r in listed)
    return {
        "listings": [r.summary() for r in results.values()],
        "observations": total,
        "buy_box_share": round(sum(r.lowest_held for r in listed) / total, 4) if total else 0.0,
    }


def _landed(price: Money, seller_id: str, market: MarketSnapshot) -> Decimal:
    own = next((o for o in market.offers if o.is_ours or o.seller_id == seller_id), None)
    return price.amount + (own.shipping.amount if own else Decimal(0))
