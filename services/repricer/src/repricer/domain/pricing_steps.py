"""The price moving through the rules (spec §11 Evaluation), step by step, with its trace.

The price starts as a Commerce amount (Commerce currency, before VAT). An intelligent rule
prices in marketplace terms (marketplace currency, VAT included, as competitors show prices):
the competitor's price is taken as is, and a floor or ceiling that binds is converted and gets
VAT at that step. Rules after it work on that marketplace amount; conversion and VAT are not
applied again. A price still in Commerce terms after all rules gets MAP, conversion and VAT.
"""

from __future__ import annotations

from decimal import Decimal

from contracts.events import PriceTraceStep
from contracts.money import Money
from repricer.domain.amounts import decreased, increased, rounded
from repricer.domain.currency import MarketplaceTerms
from repricer.domain.market import CompetitorPrice, MarketSnapshot, OurListing, choose_competitor
from repricer.domain.product import PriceReader, ResolvedPrice
from repricer.domain.rules import (
    Adjustment,
    ApplyAs,
    IntelligentAction,
    PriceBound,
    PricingRule,
    StandardAction,
)


def moved(amount: Decimal, direction: str, apply_as: ApplyAs | None, value: Decimal | None) -> Decimal:
    if direction == Adjustment.MATCH or value is None:
        return amount
    if apply_as is ApplyAs.PERCENT:
        result = increased(amount, value) if direction == Adjustment.INCREASE else decreased(amount, value)
    else:
        result = amount + value if direction == Adjustment.INCREASE else amount - value
    return max(result, Decimal(0))


def _how(direction: str, apply_as: ApplyAs | None, value: Decimal | None) -> str:
    if direction == Adjustment.MATCH or value is None:
        return "match"
    return f"{direction} {value}{' %' if apply_as is ApplyAs.PERCENT else ''}"


class RulePricing:
    def __init__(
        self,
        amount: Decimal,
        in_marketplace_terms: bool,
        terms: MarketplaceTerms,
        reader: PriceReader,
        ours: OurListing,
        market: MarketSnapshot | None,
        compare_landed_price: bool,
    ) -> None:
        self.amount = amount
        self.in_marketplace_terms = in_marketplace_terms
        self.terms = terms
        self.reader = reader
        self.ours = ours
        self.market = market
        self.compare_landed_price = compare_landed_price
        self.floor: Decimal | None = None
        self.ceiling: Decimal | None = None
        self.competitor: CompetitorPrice | None = None
        self.trace: list[PriceTraceStep] = []

    @classmethod
    def from_base(
        cls,
        source_attribute: str,
        base: ResolvedPrice,
        reader: PriceReader,
        terms: MarketplaceTerms,
        ours: OurListing,
        market: MarketSnapshot | None,
        compare_landed_price: bool,
    ) -> RulePricing:
        pricing = cls(base.amount, False, terms, reader, ours, market, compare_landed_price)
        empty = f"{source_attribute} is empty, so " if base.attribute != source_attribute else ""
        pricing._note("base_price", f"price source: {empty}{base.describe()}")
        return pricing

    @classmethod
    def overridden(
        cls, amount: Decimal, reader: PriceReader, terms: MarketplaceTerms, ours: OurListing
    ) -> RulePricing:
        pricing = cls(rounded(amount, terms.currency), True, terms, reader, ours, None, True)
        pricing._note("override", "price override: price source, rules, floor and ceiling bypassed")
        return pricing

    @property
    def currency(self) -> str:
        return self.terms.currency if self.in_marketplace_terms else self.terms.commerce_currency

    def _note(
        self, step: str, detail: str, amount: Decimal | None = None, currency: str | None = None
    ) -> None:
        amount = self.amount if amount is None else amount
        price = Money(amount=amount, currency=currency or self.currency)
        self.trace.append(PriceTraceStep(step=step, detail=detail, price=price))

    def apply(self, rule: PricingRule) -> None:
        if isinstance(rule.action, StandardAction):
            self._standard(rule, rule.action)
        else:
            self._intelligent(rule, rule.action)

    def _standard(self, rule: PricingRule, action: StandardAction) -> None:
        before = self.amount
        self.amount = rounded(moved(before, action.direction, action.apply_as, action.amount), self.currency)
        how = _how(action.direction, action.apply_as, action.amount)
        self._note("rule", f"{rule.name} (priority {rule.priority}): {before} {how} = {self.amount}")

    def _intelligent(self, rule: PricingRule, action: IntelligentAction) -> None:
        currency = self.terms.currency
        competitor = choose_competitor(self.market, action, self.ours, currency, self.compare_landed_price)
        self.competitor = competitor
        floor = self._bound_value(action.floor, fallback_to_price=True)
        if floor is None:
            self.trace.append(PriceTraceStep(step="floor", detail=f"{rule.name}: no floor value"))
        ceiling = self._bound_value(action.ceiling, fallback_to_price=False) if action.ceiling else None
        self.floor = self.terms.of_commerce(floor[0]) if floor else None
        self.ceiling = self.terms.of_commerce(ceiling[0]) if ceiling else None
        if competitor.price is not None:
            self._note("competitor", f"{rule.name}: {competitor.reason}", competitor.price.amount, currency)
            how = _how(action.adjustment, action.apply_as, action.amount)
            target = moved(competitor.price.amount, action.adjustment, action.apply_as, action.amount)
            target = rounded(target, currency)
            self.amount, self.in_marketplace_terms = target, True
            self._note("adjustment", f"{rule.name}: {competitor.price.amount} {how} = {target}")
        else:
            self.trace.append(
                PriceTraceStep(
                    step="competitor",
                    detail=f"{rule.name}: {competitor.reason}; the price so far stays",
                )
            )
        self._keep_between(rule, floor, ceiling)
        self._note("rule", f"{rule.name} (priority {rule.priority}): intelligent repricing = {self.amount}")

    def _bound_value(self, bound: PriceBound, fallback_to_price: bool) -> tuple[Decimal, str] | None:
        read = self.reader.read_or_price if fallback_to_price else self.reader.read
        source = read(bound.source_attribute)
        if source is None:
            return None
        value = moved(source.amount, bound.action, ApplyAs.PERCENT, bound.percent)
        value = rounded(value, self.terms.commerce_currency)
        return value, f"{source.describe()} {_how(bound.action, ApplyAs.PERCENT, bound.percent)} = {value}"

    def _keep_between(
        self, rule: PricingRule, floor: tuple[Decimal, str] | None, ceiling: tuple[Decimal, str] | None
    ) -> None:
        """result = max(price, floor), then min(result, ceiling); a bound that binds is converted
        and gets VAT at this step."""
        binding: Decimal | None = None
        for step, bound in (("floor", floor), ("ceiling", ceiling)):
            if bound is None:
                continue
            value, described = bound
            limit = self.terms.of_commerce(value) if self.in_marketplace_terms else value
            hit = self.amount < limit if step == "floor" else self.amount > limit
            if hit:
                self.amount, binding = limit, value
            state = "binds" if hit else "does not bind"
            terms = f" ({limit} {self.terms.currency} with conversion and VAT)" if limit != value else ""
            detail = f"{rule.name}: {step} from {described}{terms}; {state}"
            self._note(step, detail, value, self.terms.commerce_currency)
        if binding is not None:
            self._to_marketplace_terms(binding, "bound value")

    def _to_marketplace_terms(self, amount: Decimal, what: str) -> Decimal:
        self.amount, self.in_marketplace_terms = amount, False
        self._convert(what)
        self._add_vat(what)
        self.in_marketplace_terms = True
        return self.amount

    def _convert(self, what: str) -> None:
        terms = self.terms
        if terms.rate is not None:
            before = self.amount
            self.amount = terms.convert(before)
            detail = f"{what}: {terms.describe_conversion(before, self.amount)}"
            self._note("currency", detail, currency=terms.currency)
        elif terms.commerce_currency != terms.currency:
            self._note(
                "currency",
                f"{what}: conversion disabled; {self.amount} published as {terms.currency}",
                currency=terms.currency,
            )

    def _add_vat(self, what: str) -> None:
        if self.terms.vat_percent:
            before = self.amount
            self.amount = self.terms.add_vat(before)
            detail = f"{what}: {self.terms.describe_vat(before, self.amount)}"
            self._note("vat", detail, currency=self.terms.currency)

    def finish(self, map_price: ResolvedPrice | None) -> None:
        """MAP, then (for a price still in Commerce terms) currency conversion and VAT."""
        if map_price is not None:
            limit = map_price.amount
            if self.in_marketplace_terms:
                limit = self.terms.of_commerce(limit)
            if self.amount < limit:
                before, self.amount = self.amount, limit
                self._note("map", f"{before} is below MAP ({map_price.describe()}): raised to {limit}")
            else:
                self._note("map", f"MAP ({map_price.describe()}) does not bind")
        if not self.in_marketplace_terms:
            self._to_marketplace_terms(self.amount, "final price")
