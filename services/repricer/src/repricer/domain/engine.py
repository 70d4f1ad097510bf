"""The price of one listing, decided from its product, settings, rules, market and history.

`decide` is a pure function: same inputs, same decision, with a trace of every step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from contracts.events import PriceTraceStep
from contracts.money import Money
from repricer.domain.amounts import decreased, rounded
from repricer.domain.currency import MarketplaceTerms
from repricer.domain.errors import NoPriceSource, PricingError
from repricer.domain.guards import Band, PriceHistory, guard
from repricer.domain.market import CompetitorPrice, MarketSnapshot, OurListing
from repricer.domain.pricing_steps import RulePricing
from repricer.domain.product import PriceReader, ProductPriceData
from repricer.domain.rules import PricingRule, in_priority_order
from repricer.domain.settings import ListingPriceSettings

BUSINESS_PRICE_MINIMUM = Decimal(1)
NO_RATES: Mapping[str, Decimal] = MappingProxyType({})


class BusinessTierPrice(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_quantity: int
    price: Money


class PriceDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    price: Money
    previous_price: Money | None
    strike_through: Money | None = None
    business_price: Money | None = None
    tiers: list[BusinessTierPrice] = []
    floor: Money | None = None
    ceiling: Money | None = None
    competitor: CompetitorPrice | None = None
    send: bool
    held: str | None = None
    trace: list[PriceTraceStep]


def decide(
    product: ProductPriceData,
    settings: ListingPriceSettings,
    rules: Sequence[PricingRule],
    ours: OurListing,
    now: datetime,
    *,
    market: MarketSnapshot | None = None,
    rates: Mapping[str, Decimal] = NO_RATES,
    history: PriceHistory | None = None,
    price_override: Money | None = None,
    rules_matched: bool = False,
) -> PriceDecision:
    """Decide the listing's Amazon price in the marketplace currency (spec §10-§12).

    `rules_matched` says `rules` are already `applicable_rules(...)` for this product and day:
    a caller pricing the same product again and again keeps that list rather than evaluating
    every condition tree each time.

    Raises NoPriceSource when the product has no price and MissingCurrencyRate when conversion
    is enabled without a rate for the currency pair.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    history = history or PriceHistory()
    reader = PriceReader(product, settings)
    terms = MarketplaceTerms.of(settings, product.currency, rates)
    if price_override is not None:
        if price_override.currency != terms.currency:
            raise PricingError(f"the price override is in {price_override.currency}, not {terms.currency}")
        pricing = RulePricing.overridden(price_override.amount, reader, terms, ours)
    else:
        base = reader.read_or_price(settings.price_source_attribute)
        if base is None:
            raise NoPriceSource(product.sku, settings.price_source_attribute)
        pricing = RulePricing.from_base(
            settings.price_source_attribute, base, reader, terms, ours, market, settings.compare_landed_price
        )
        for rule in rules if rules_matched else applicable_rules(rules, product, now):
            pricing.apply(rule)
            if rule.discard_subsequent:
                break
        pricing.finish(reader.read(settings.map_attribute) if settings.map_attribute else None)

    currency = terms.currency
    guarded = guard(
        pricing.amount,
        currency,
        settings.guards,
        history,
        Band(pricing.floor, pricing.ceiling),
        pricing.competitor.seller_id if pricing.competitor and pricing.competitor.price else None,
        now,
    )
    trace = [*pricing.trace, *guarded.trace]
    price = Money(amount=guarded.amount, currency=currency)

    strike_through = _strike_through(price, reader, settings, terms, trace)
    business, tiers = _business_prices(price, settings, trace)
    return PriceDecision(
        sku=product.sku,
        price=price,
        previous_price=history.current(),
        strike_through=strike_through,
        business_price=business,
        tiers=tiers,
        floor=_money(pricing.floor, currency),
        ceiling=_money(pricing.ceiling, currency),
        competitor=pricing.competitor,
        send=guarded.send,
        held=guarded.held,
        trace=trace,
    )


def applicable_rules(rules: Sequence[PricingRule], product: ProductPriceData, now: datetime) -> list[PricingRule]:
    """The rules in effect on `now`'s date whose conditions the product meets, in priority order;
    the discard flag is left to `decide`, which stops after the first such rule it applies."""
    attributes = product.condition_attributes()
    return [rule for rule in in_priority_order(list(rules)) if rule.applies_to(attributes, now)]


def _money(amount: Decimal | None, currency: str) -> Money | None:
    return Money(amount=amount, currency=currency) if amount is not None else None


def _strike_through(
    price: Money,
    reader: PriceReader,
    settings: ListingPriceSettings,
    terms: MarketplaceTerms,
    trace: list[PriceTraceStep],
) -> Money | None:
    msrp = reader.read(settings.msrp_attribute) if settings.msrp_attribute else None
    if msrp is None:
        return None
    reference = Money(amount=terms.of_commerce(msrp.amount), currency=price.currency)
    if price.amount < reference.amount:
        trace.append(PriceTraceStep(step="msrp", detail=f"strike-through {msrp.describe()}", price=reference))
        return reference
    not_above = f"no strike-through: {msrp.describe()} is not above the price"
    trace.append(PriceTraceStep(step="msrp", detail=not_above))
    return None


def _business_prices(
    price: Money, settings: ListingPriceSettings, trace: list[PriceTraceStep]
) -> tuple[Money | None, list[BusinessTierPrice]]:
    if not settings.business_pricing_enabled:
        return None, []
    currency = price.currency
    amount = max(price.amount, BUSINESS_PRICE_MINIMUM)
    business = Money(amount=amount, currency=currency)
    minimum = " (raised to the minimum 1.00)" if amount != price.amount else ""
    trace.append(PriceTraceStep(step="business_price", detail=f"list price{minimum}", price=business))
    if not settings.tiered_pricing_enabled:
        return business, []
    tiers = []
    for tier in settings.business_tiers:
        tier_amount = max(rounded(decreased(amount, tier.discount_percent), currency), BUSINESS_PRICE_MINIMUM)
        tier_price = Money(amount=tier_amount, currency=currency)
        tiers.append(BusinessTierPrice(min_quantity=tier.min_quantity, price=tier_price))
        trace.append(
            PriceTraceStep(
                step="business_tier",
                detail=f"quantity {tier.min_quantity}+: {tier.discount_percent} % off",
                price=tier_price,
            )
        )
    return business, tiers
