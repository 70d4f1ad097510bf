"""A product's Commerce price attributes and how one is read under the price scope (spec §10)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from repricer.domain.amounts import Amount
from repricer.domain.settings import PRICE, ListingPriceSettings, PriceScope


def _drop_empty(values: object) -> object:
    if isinstance(values, dict):
        return {code: value for code, value in values.items() if value is not None and value != ""}
    return values


AttributePrices = Annotated[dict[str, Amount], BeforeValidator(_drop_empty)]


class ProductPriceData(BaseModel):
    """Price attributes in the Commerce default currency. `prices` holds the default (global)
    values; `website_prices` only the values a website sets itself ("Use Default" = No)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="Commerce default currency")
    prices: AttributePrices = Field(default={}, description="attribute code -> default value")
    website_prices: dict[str, AttributePrices] = Field(
        default={}, description="website code -> attribute code -> the website's own value"
    )
    attributes: dict[str, Any] = Field(default={}, description="Attributes rule conditions test")

    def condition_attributes(self) -> dict[str, Any]:
        return {"sku": self.sku, **self.prices, **self.attributes}


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
        for website in self._websites:
            value = self._product.website_prices.get(website, {}).get(attribute)
            if value is not None:
                return ResolvedPrice(attribute, value, f"website {website}")
        value = self._product.prices.get(attribute)
        return ResolvedPrice(attribute, value, "default scope") if value is not None else None

    def read_or_price(self, attribute: str) -> ResolvedPrice | None:
        """The attribute's value, or the product's price when the attribute is empty."""
        return self.read(attribute) or (self.read(PRICE) if attribute != PRICE else None)
