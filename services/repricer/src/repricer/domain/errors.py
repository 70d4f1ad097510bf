"""Reasons the repricer cannot decide a price."""

from __future__ import annotations


class PricingError(Exception):
    """A listing's price cannot be decided from the data given."""


class NoPriceSource(PricingError):
    def __init__(self, sku: str, attribute: str) -> None:
        super().__init__(f"product {sku} has neither {attribute!r} nor 'price'")
        self.sku = sku
        self.attribute = attribute


class MissingCurrencyRate(PricingError):
    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"no currency rate {source}/{target} (nor {target}/{source})")
        self.pair = f"{source}/{target}"


class PriceOutOfRange(PricingError):
    """A price read or computed is too large to be one: rules compounding far beyond any sane
    price, or a product attribute or competitor offer holding an absurd amount. `field` names the
    input to blame when the configuration and the competitor prices are bounded (a simulation)."""

    def __init__(self, reason: str, field: str = "rules") -> None:
        super().__init__(reason)
        self.field = field
