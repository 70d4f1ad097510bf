"""Preview a price: given a listing, settings, rules and competitor offers, the price and its
trace, with no side effects. Served at POST /simulate and by `python -m repricer simulate`."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts import Money
from contracts.events import Offer
from repricer.config import RuleSpec, StoreSettings
from repricer.domain import (
    ItemCondition,
    MarketSnapshot,
    OurListing,
    PriceDecision,
    PriceHistory,
    ProductPriceData,
    decide,
)


class NamedRule(RuleSpec):
    name: str = Field(min_length=1)


class SimulationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: ProductPriceData
    settings: StoreSettings
    rules: list[NamedRule] = []
    offers: list[Offer] | None = Field(default=None, description="Competitor offers; null: none known")
    condition: ItemCondition = Field(default=ItemCondition.NEW, description="Our listing's condition")
    live_price: Money | None = Field(default=None, description="The price Amazon shows now")
    rates: dict[str, Decimal] = Field(default={}, description='"CAD/USD": 0.73')
    at: AwareDatetime | None = Field(default=None, description="Evaluate as of; default now")


def simulate(request: SimulationRequest) -> PriceDecision:
    market = MarketSnapshot(offers=request.offers) if request.offers is not None else None
    rules = [r for r in request.rules
             if r.for_store(request.settings.account_id, request.settings.marketplace_id)]
    return decide(
        request.product, request.settings, rules,
        OurListing(seller_id=request.settings.seller_id, condition=request.condition),
        request.at or datetime.now(UTC), market=market, rates=request.rates,
        history=PriceHistory(live_price=request.live_price),
    )
