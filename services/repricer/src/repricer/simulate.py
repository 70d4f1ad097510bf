"""Preview a price: given a listing, settings, rules and competitor offers, the price and its
trace, with no side effects. Served at POST /simulate and by `python -m repricer simulate`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from contracts import Money
from contracts.events import Offer
from contracts.money import DecimalString
from repricer.config import RuleSpec, StoreSettings
from repricer.domain import (
    BoundedProductPriceData,
    ItemCondition,
    MarketSnapshot,
    OurListing,
    PriceDecision,
    PriceHistory,
    decide,
)
from repricer.domain.amounts import AMOUNT_PLACES, MAX_AMOUNT, Rate
from repricer.domain.limits import CURRENCY_PAIR, MAX_ID_LENGTH, MAX_INT, Id

MAX_RULES = 200
MAX_OFFERS = 200
MAX_RATES = 200
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""`at` minus the longest price war window (365 days) must still be a date."""
LATEST = datetime(2999, 12, 31, tzinfo=UTC)


class NamedRule(RuleSpec):
    name: Id = Field(description="Up to 200 characters")


class Price(Money):
    """Money that is a price: 0 to 1,000,000,000 with at most 6 decimal places."""

    amount: Annotated[DecimalString, Field(ge=0, le=MAX_AMOUNT, decimal_places=AMOUNT_PLACES)] = Field(
        description="Decimal amount, e.g. '19.99': 0 to 1,000,000,000, at most 6 decimal places"
    )

    def money(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)


class SimulatedOffer(Offer):
    """A competitor offer as a simulation takes it: prices bounded like every other amount."""

    seller_id: str = Field(max_length=MAX_ID_LENGTH, description="Up to 200 characters")
    condition: str = Field(max_length=MAX_ID_LENGTH, description="new, used, collectible, refurbished, club")
    sub_condition: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    listing_price: Price
    shipping: Price
    feedback_count: int | None = Field(default=None, strict=True, ge=0, le=MAX_INT)
    feedback_rating: int | None = Field(default=None, strict=True, ge=0, le=100)
    is_ours: bool = Field(strict=True, description="True for the seller's own offer; never a competitor")
    is_buy_box_winner: bool = Field(default=False, strict=True)
    is_prime: bool = Field(default=False, strict=True)


CurrencyPair = Annotated[str, StringConstraints(pattern=CURRENCY_PAIR)]


class SimulationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: BoundedProductPriceData
    settings: StoreSettings
    rules: list[NamedRule] = Field(default=[], max_length=MAX_RULES, description="At most 200 rules")
    offers: list[SimulatedOffer] | None = Field(
        default=None, max_length=MAX_OFFERS, description="Competitor offers (at most 200); null: none known"
    )
    condition: ItemCondition = Field(default=ItemCondition.NEW, description="Our listing's condition")
    live_price: Price | None = Field(default=None, description="The price Amazon shows now")
    rates: dict[CurrencyPair, Rate] = Field(
        default={}, max_length=MAX_RATES,
        description='"CAD/USD": 0.73; at most 200 pairs, each rate 0.000001 to 1,000,000 with at most 10 decimals',
    )
    at: AwareDatetime | None = Field(
        default=None, ge=EARLIEST, le=LATEST, description="Evaluate as of (1970 to 2999); default now"
    )


def simulate(request: SimulationRequest) -> PriceDecision:
    market = MarketSnapshot(offers=request.offers) if request.offers is not None else None
    rules = [r for r in request.rules
             if r.for_store(request.settings.account_id, request.settings.marketplace_id)]
    return decide(
        request.product, request.settings, rules,
        OurListing(seller_id=request.settings.seller_id, condition=request.condition),
        request.at or datetime.now(UTC), market=market, rates=request.rates,
        history=PriceHistory(live_price=request.live_price.money() if request.live_price else None),
    )
