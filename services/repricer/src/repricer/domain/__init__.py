"""The repricer's pure domain: everything that decides a listing's Amazon price, without I/O."""

from repricer.domain.engine import BusinessTierPrice, PriceDecision, applicable_rules, decide
from repricer.domain.errors import MissingCurrencyRate, NoPriceSource, PriceOutOfRange, PricingError
from repricer.domain.guards import PriceChange, PriceHistory
from repricer.domain.item_condition import ItemCondition
from repricer.domain.market import CompetitorPrice, MarketSnapshot, OurListing, choose_competitor
from repricer.domain.product import BoundedProductPriceData, ProductPriceData
from repricer.domain.rules import (
    Adjustment,
    ApplyAs,
    CompetitorSource,
    Direction,
    IntelligentAction,
    PriceBound,
    PricingRule,
    StandardAction,
    VarianceMode,
)
from repricer.domain.settings import BusinessTier, ListingPriceSettings, PriceGuards, PriceScope, Website

__all__ = [
    "Adjustment", "ApplyAs", "BoundedProductPriceData", "BusinessTier", "BusinessTierPrice", "CompetitorPrice",
    "CompetitorSource", "Direction", "IntelligentAction", "ItemCondition", "ListingPriceSettings",
    "MarketSnapshot", "MissingCurrencyRate", "NoPriceSource", "OurListing", "PriceBound", "PriceChange",
    "PriceDecision", "PriceGuards", "PriceHistory", "PriceOutOfRange", "PriceScope", "PricingError",
    "PricingRule", "ProductPriceData", "StandardAction", "VarianceMode", "Website", "applicable_rules",
    "choose_competitor", "decide",
]
