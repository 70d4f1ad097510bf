"""A product's Commerce price attributes and how one is read under the price scope (spec §10)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from repricer.domain.amounts import MAX_AMOUNT, Amount, NonNegativeDecimal
from repricer.domain.errors import PriceOutOfRange
from repricer.domain.limits import CURRENCY, MAX_ATTRIBUTES, MAX_WEBSITES, Code, Id
from repricer.domain.settings import PRICE, ListingPriceSettings, PriceScope


def _drop_empty(values: object) -> object:
    if isinstance(values, dict):
        return {code: value for code, value in values.items() if value is not None and value != ""}
    return values


AttributePrices = Annotated[dict[Code, NonNegativeDecimal], BeforeValidator(_drop_empty)]
"""Numeric attribute values as Commerce sends them, prices or not (an EAN is numeric too)."""

Prices = Annotated[dict[Code, Amount], BeforeValidator(_drop_empty), Field(max_length=MAX_ATTRIBUTES)]
"""Price attribute values given as prices: each 0 to 1,000,000,000 with at most 6 decimal places."""


class ProductPriceData(BaseModel):
    """Price attributes in the Commerce default currency. `prices` holds the default (global)
    values; `website_prices` only the values a website sets itself ("Use Default" = No)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Id = Field(description="Up to 200 characters")
    currency: str = Field(pattern=CURRENCY, description="Commerce default currency")
    prices: AttributePrices = Field(default={}, description="attribute code -> default value")
    website_prices: dict[Code, AttributePrices] = Field(
        default={}, description="website code -> attribute code -> the website's own value"
    )
    attributes: dict[Code, Any] = Field(default={}, description="Attributes rule conditions test")

    def condition_attributes(self) -> dict[str, Any]:
        return {"sku": self.sku, **self.prices, **self.attributes}


class BoundedProductPriceData(ProductPriceData):
    """A product given directly (a simulation, not a Commerce event): every price attribute is a
    price, and the attributes are bounded in number."""

    prices: Prices = Field(
        default={}, description="attribute code -> default value; each 0 to 1,000,000,000, at most 6 decimals; "
        "at most 10,000 attributes"
    )
    website_prices: dict[Code, Prices] = Field(
        default={}, max_length=MAX_WEBSITES,
        description="website code -> attribute code -> the website's own value (at most 100 websites)",
    )
    attributes: dict[Code, Any] = Field(
        default={}, max_length=MAX_ATTRIBUTES, description="Attributes rule conditions test (at most 10,000)"
    )


@dataclass(frozen=True)
class ResolvedPrice:
    attribute: str
    amount: Decimal
    origin: str

    def describe(self) -> str:
        return f"{self.attribute} {self.amount} ({self.origin})"


class PriceReader:
    """Reads price attributes the way the listing price settings say: global, or walking the
    websites feeding the marketplace by sort order and taking the first website-level value."""

    def __init__(self, product: ProductPriceData, settings: ListingPriceSettings) -> None:
        self._product = product
        self._websites = (
            [w.code for w in settings.websites] if settings.price_scope is PriceScope.WEBSITE else []
        )

    def read(self, attribute: str) -> ResolvedPrice | None:
        """PriceOutOfRange when the value is above MAX_AMOUNT: no price, whatever the attribute holds."""
        for website in self._websites:
            value = self._product.website_prices.get(website, {}).get(attribute)
            if value is not None:
                return self._price(attribute, value, f"website {website}", f"website_prices.{website}")
        value = self._product.prices.get(attribute)
        return self._price(attribute, value, "default scope", "prices") if value is not None else None

    def _price(self, attribute: str, value: Decimal, origin: str, where: str) -> ResolvedPrice:
        if value > MAX_AMOUNT:
            raise PriceOutOfRange(
                f"product {self._product.sku}: {attribute} {value} ({origin}) is above the largest price {MAX_AMOUNT}",
                field=f"product.{where}.{attribute}",
            )
        return ResolvedPrice(attribute, value, origin)

    def read_or_price(self, attribute: str) -> ResolvedPrice | None:
        """The attribute's value, or the product's price when the attribute is empty."""
        return self.read(attribute) or (self.read(PRICE) if attribute != PRICE else None)
