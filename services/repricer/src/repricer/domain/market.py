"""Which competitor price an intelligent rule prices against (spec §12).

Our own offer is never a competitor, whether flagged `is_ours` or carrying our seller id; the
snapshot's summary prices (lowest, Buy Box) are not used because they do not say whose offer
they are. Nothing chosen here depends on our own offer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import Offer, OfferPriceObserved
from contracts.money import Money
from repricer.domain.amounts import HUNDRED, rounded
from repricer.domain.item_condition import ItemCondition, fallback_groups, offer_condition
from repricer.domain.limits import Id
from repricer.domain.rules import CompetitorSource, IntelligentAction, VarianceMode


class OurListing(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seller_id: Id = Field(description="Our Amazon seller id, up to 200 characters")
    condition: ItemCondition = ItemCondition.NEW
    shipping: Money | None = Field(
        default=None, description="What buyers pay us for shipping; subtracted when comparing landed prices"
    )


class MarketSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    offers: list[Offer] = []
    observed_at: datetime | None = None

    @classmethod
    def from_event(cls, event: OfferPriceObserved) -> MarketSnapshot:
        return cls(offers=event.offers, observed_at=event.observed_at)


class CompetitorPrice(BaseModel):
    """The base an intelligent rule adjusts, or None with the reason there is none."""

    model_config = ConfigDict(frozen=True)

    price: Money | None
    seller_id: str | None = None
    condition: ItemCondition | None = None
    reason: str


class _Candidate(NamedTuple):
    """A competitor offer as one rule weighs it; a tuple, as a rule builds one per offer."""

    offer: Offer
    condition: ItemCondition
    price: Decimal

    def describe(self, landed: bool) -> str:
        offer = self.offer
        how = (
            f"landed {self.price} = {offer.listing_price.amount} + {offer.shipping.amount} shipping"
            if landed
            else f"item price {self.price}"
        )
        return f"seller {offer.seller_id} in {self.condition.value} ({how})"


def _is_ours(offer: Offer, ours: OurListing) -> bool:
    return offer.is_ours or offer.seller_id == ours.seller_id


def _candidates(
    snapshot: MarketSnapshot, ours: OurListing, currency: str, landed: bool
) -> list[_Candidate]:
    found = []
    for offer in snapshot.offers:
        condition = offer_condition(offer.condition, offer.sub_condition)
        if _is_ours(offer, ours) or condition is None or offer.listing_price.currency != currency:
            continue
        shipping = offer.shipping.amount if landed and offer.shipping.currency == currency else Decimal(0)
        found.append(_Candidate(offer, condition, offer.listing_price.amount + shipping))
    return found


def _lowest(candidates: Sequence[_Candidate]) -> _Candidate:
    return min(
        candidates,
        key=lambda c: (c.price, c.offer.seller_id, c.condition.value, c.offer.listing_price.amount),
    )


def _meets_feedback(candidate: _Candidate, action: IntelligentAction) -> bool:
    rating = candidate.offer.feedback_rating or 0
    count = candidate.offer.feedback_count or 0
    return rating >= action.min_feedback_percent and count >= action.min_feedback_count


@dataclass(frozen=True)
class _Match:
    candidate: _Candidate
    how: str


def _buy_box(candidates: list[_Candidate], ours: OurListing) -> _Match | str:
    winners = [c for c in candidates if c.offer.is_buy_box_winner]
    if not winners:
        return "no competitor holds the Buy Box"
    same = [c for c in winners if c.condition is ours.condition]
    return _Match(_lowest(same or winners), "Buy Box")


def _lowest_in_conditions(
    candidates: list[_Candidate], ours: OurListing, action: IntelligentAction
) -> _Match | str:
    qualified = [c for c in candidates if _meets_feedback(c, action)]
    if not qualified:
        return (
            f"no competitor offer with at least {action.min_feedback_percent} % positive feedback"
            f" and {action.min_feedback_count} ratings"
        )
    same = [c for c in qualified if c.condition is ours.condition]
    if same:
        return _Match(_lowest(same), "lowest price in our condition")
    if action.variance_mode is VarianceMode.MATCHING_ONLY:
        return f"no competitor offer in our condition {ours.condition.value} (matching condition only)"
    for group in fallback_groups(ours.condition):
        in_group = [c for c in qualified if c.condition in group]
        if in_group:
            names = ", ".join(c.value for c in group)
            return _Match(_lowest(in_group), f"lowest price in the first conditions with offers ({names})")
    return "no competitor offer in any condition"  # pragma: no cover - every condition is walked


def _with_variance(
    match: _Match, ours: OurListing, action: IntelligentAction, currency: str
) -> tuple[Decimal, str]:
    bmp = match.candidate.price
    their = match.candidate.condition
    if their is ours.condition or action.variance_mode is not VarianceMode.APPLY_VARIANCE:
        return bmp, ""
    bmc, mcv = action.variance(their), action.variance(ours.condition)
    base = rounded(bmp * (HUNDRED - (bmc - mcv)) / HUNDRED, currency)
    return base, f"; variance {bmp} × (100 − ({bmc} − {mcv})) / 100 = {base}"


def choose_competitor(
    snapshot: MarketSnapshot | None,
    action: IntelligentAction,
    ours: OurListing,
    currency: str,
    compare_landed_price: bool,
) -> CompetitorPrice:
    if snapshot is None:
        return CompetitorPrice(price=None, reason="no competitor offers observed")
    candidates = _candidates(snapshot, ours, currency, compare_landed_price)
    if not candidates:
        return CompetitorPrice(price=None, reason=f"no competitor offers in {currency}")
    if action.competitor_source is CompetitorSource.BUY_BOX:
        found = _buy_box(candidates, ours)
        if (
            isinstance(found, _Match)
            and action.variance_mode is VarianceMode.MATCHING_ONLY
            and found.candidate.condition is not ours.condition
        ):
            their = found.candidate.condition.value
            found = f"the Buy Box offer is {their}, not our condition (matching condition only)"
    else:
        found = _lowest_in_conditions(candidates, ours, action)
    if isinstance(found, str):
        return CompetitorPrice(price=None, reason=found)
    base, variance = _with_variance(found, ours, action, currency)
    shipping = ""
    if compare_landed_price and ours.shipping is not None and ours.shipping.currency == currency:
        base = max(base - ours.shipping.amount, Decimal(0))
        shipping = f"; less our shipping {ours.shipping.amount} = {base}"
    candidate = found.candidate
    return CompetitorPrice(
        price=Money(amount=rounded(base, currency), currency=currency),
        seller_id=candidate.offer.seller_id,
        condition=candidate.condition,
        reason=f"{found.how}: {candidate.describe(compare_landed_price)}{variance}{shipping}",
    )
