"""From a Commerce amount to what Amazon shows: currency conversion, then VAT (spec §10, §16)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from repricer.domain.amounts import MAX_RATE, MIN_RATE, increased, rounded
from repricer.domain.errors import MissingCurrencyRate
from repricer.domain.settings import ListingPriceSettings


def rate_between(rates: Mapping[str, Decimal], source: str, target: str) -> Decimal:
    """The rate of "SOURCE/TARGET" (1 SOURCE = rate TARGET), or the inverse of "TARGET/SOURCE"."""
    if source == target:
        return Decimal(1)
    if (rate := rates.get(f"{source}/{target}")) is not None:
        return rate
    if (inverse := rates.get(f"{target}/{source}")) is not None and inverse != 0:
        return Decimal(1) / inverse
    raise MissingCurrencyRate(source, target)


@dataclass(frozen=True)
class CommerceRates:
    """What one unit of `base` buys of each currency, as a Commerce installation last said (its base is 1)."""

    base: str
    rates: Mapping[str, Decimal]


def with_commerce_rates(configured: Mapping[str, Decimal], commerce: Iterable[CommerceRates]) -> dict[str, Decimal]:
    """The rates conversion uses: Commerce's ("BASE/CODE"), and over them the configured ones. A pair configured in
    either direction is the configured rate alone. Where installations disagree on a pair the later in `commerce`
    wins. A Commerce rate outside what a configured rate may be (MIN_RATE to MAX_RATE) is left out."""
    configured_pairs = {frozenset(pair.split("/")) for pair in configured}
    merged: dict[str, Decimal] = {}
    for c in commerce:
        for code, rate in c.rates.items():
            if code == c.base or not MIN_RATE <= rate <= MAX_RATE or frozenset((c.base, code)) in configured_pairs:
                continue
            merged.pop(f"{code}/{c.base}", None)
            merged[f"{c.base}/{code}"] = rate
    return {**merged, **configured}


@dataclass(frozen=True)
class MarketplaceTerms:
    """Conversion (when enabled and the currencies differ) and VAT (when enabled). With conversion
    disabled a Commerce amount is published as is, in the marketplace currency."""

    commerce_currency: str
    currency: str
    rate: Decimal | None
    vat_percent: Decimal | None

    @classmethod
    def of(
        cls, settings: ListingPriceSettings, commerce_currency: str, rates: Mapping[str, Decimal]
    ) -> MarketplaceTerms:
        currency = settings.marketplace_currency
        convert = settings.currency_conversion_enabled and commerce_currency != currency
        return cls(
            commerce_currency=commerce_currency,
            currency=currency,
            rate=rate_between(rates, commerce_currency, currency) if convert else None,
            vat_percent=settings.vat_percent if settings.vat_enabled else None,
        )

    def convert(self, amount: Decimal) -> Decimal:
        return rounded(amount * self.rate, self.currency) if self.rate is not None else amount

    def add_vat(self, amount: Decimal) -> Decimal:
        return rounded(increased(amount, self.vat_percent), self.currency) if self.vat_percent else amount

    def of_commerce(self, amount: Decimal) -> Decimal:
        return self.add_vat(self.convert(amount))

    def describe_conversion(self, before: Decimal, after: Decimal) -> str:
        return f"{before} {self.commerce_currency} × {self.rate} = {after} {self.currency}"

    def describe_vat(self, before: Decimal, after: Decimal) -> str:
        return f"{before} + {self.vat_percent} % VAT = {after}"
