"""Listing price settings of one Amazon store (an account in one marketplace), spec §10."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from repricer.domain.amounts import Amount, Percent, SharePercent
from repricer.domain.limits import (
    CURRENCY,
    MAX_INT,
    MAX_WEBSITES,
    MAX_WINDOW,
    MIN_WINDOW,
    Code,
    Id,
    OptionalCode,
)

PRICE = "price"
MAX_BUSINESS_TIERS = 5


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PriceScope(StrEnum):
    GLOBAL = "global"
    WEBSITE = "website"


class Website(_Settings):
    code: Code = Field(description="Commerce website code, up to 255 characters")
    sort_order: int = Field(
        strict=True, ge=0, le=MAX_INT,
        description="Commerce website sort order (0 to 2^31-1); the lowest is walked first"
    )


class BusinessTier(_Settings):
    min_quantity: int = Field(strict=True, ge=2, le=MAX_INT,
                              description="The tier applies from this quantity up (2 to 2^31-1)")
    discount_percent: SharePercent = Field(
        gt=0, lt=100, description="Discount off the business price, % (above 0, below 100, up to 6 decimals)"
    )


class PriceGuards(_Settings):
    """Protections applied to the final price; each is on by default and can be switched off."""

    enforce_band: bool = Field(default=True, strict=True, description="Clamp the final price into [floor, ceiling]")
    limit_step: bool = Field(default=True, strict=True, description="Limit one move relative to the live price")
    max_step_percent: Percent = Field(
        default=Decimal(20), gt=0, description="Largest single move, % (above 0, up to 1000: a move up may exceed 100)"
    )
    detect_price_war: bool = Field(default=True, strict=True, description="Hold the price during an undercut race")
    price_war_undercuts: int = Field(
        default=3, strict=True, ge=1, le=MAX_INT, description="Cuts against one competitor = a war (1 to 2^31-1)"
    )
    price_war_window: timedelta = Field(
        default=timedelta(hours=1), ge=MIN_WINDOW, le=MAX_WINDOW,
        description="Where cuts are counted (1 second to 365 days)",
    )
    skip_small_changes: bool = Field(default=True, strict=True,
                                     description="Do not send changes below min_change_amount")
    min_change_amount: Amount = Field(
        default=Decimal("0.01"), description="Smallest change worth sending (0 to 1,000,000,000, up to 6 decimals)"
    )


class ListingPriceSettings(_Settings):
    account_id: Id = Field(description="Amazon seller account, up to 200 characters")
    marketplace_id: Id = Field(description="Amazon marketplace id, up to 200 characters")
    marketplace_currency: str = Field(pattern=CURRENCY, description="Currency Amazon prices in (ISO 4217)")

    price_source_attribute: Code = Field(default=PRICE, description="Magento Price Source, up to 255 characters")
    map_attribute: OptionalCode | None = Field(
        default=None, description="Minimum Advertised Price attribute, up to 255 characters"
    )
    msrp_attribute: OptionalCode | None = Field(
        default=None, description="Strike-through (MSRP) attribute, up to 255 characters"
    )

    vat_enabled: bool = Field(default=False, strict=True)
    vat_percent: SharePercent = Field(default=Decimal(0), description="10.2 means 10.20 % (0 to 100, up to 6 decimals)")
    currency_conversion_enabled: bool = Field(default=False, strict=True)

    price_scope: PriceScope = PriceScope.GLOBAL
    websites: list[Website] = Field(
        default=[], max_length=MAX_WEBSITES, description="Websites feeding this marketplace (at most 100)"
    )

    business_pricing_enabled: bool = Field(default=False, strict=True)
    tiered_pricing_enabled: bool = Field(default=False, strict=True)
    business_tiers: list[BusinessTier] = Field(
        default=[], max_length=MAX_BUSINESS_TIERS, description="Pricing levels one to five (at most 5)"
    )

    compare_landed_price: bool = Field(
        default=True, strict=True, description="Compare competitor prices as listing + shipping; else item price"
    )
    guards: PriceGuards = PriceGuards()

    @field_validator("map_attribute", "msrp_attribute")
    @classmethod
    def _blank_is_none(cls, code: str | None) -> str | None:
        return code.strip() or None if code is not None else None

    @field_validator("websites")
    @classmethod
    def _websites_by_sort_order(cls, websites: list[Website]) -> list[Website]:
        codes = [w.code for w in websites]
        if len(set(codes)) != len(codes):
            raise ValueError("each website may appear once")
        return sorted(websites, key=lambda w: (w.sort_order, w.code))

    @field_validator("business_tiers")
    @classmethod
    def _tiers_by_quantity(cls, tiers: list[BusinessTier]) -> list[BusinessTier]:
        tiers = sorted(tiers, key=lambda t: t.min_quantity)
        for lower, higher in pairwise(tiers):
            if lower.min_quantity == higher.min_quantity:
                raise ValueError(f"two tiers start at quantity {lower.min_quantity}")
            if higher.discount_percent < lower.discount_percent:
                raise ValueError("a larger quantity cannot have a smaller discount")
        return tiers

    @model_validator(mode="after")
    def _website_scope_needs_websites(self) -> ListingPriceSettings:
        if self.price_scope is PriceScope.WEBSITE and not self.websites:
            raise ValueError("websites: website price scope needs the websites feeding the marketplace")
        return self
