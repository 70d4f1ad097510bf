"""The repricer's configuration resources: listing price settings per store, pricing rules and
currency rates, declared with servicekit's config mechanism (apply -f pricing.yaml). Commerce's own
currency rates (commerce_rates.py) are loaded with them, under the configured ones."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from repricer import commerce_rates
from repricer.domain import ListingPriceSettings, PricingRule, ProductPriceData, applicable_rules
from repricer.domain.amounts import Rate
from repricer.domain.currency import CommerceRates, with_commerce_rates
from repricer.domain.limits import CURRENCY, MAX_ID_LENGTH, Id
from servicekit.config import ConfigKind, ConfigRegistry, ConfigSpec, Specs, load


class StoreSettings(ListingPriceSettings):
    """Listing price settings of one Amazon store (account and marketplace)."""

    seller_id: Id = Field(description="Our Amazon seller id on this account, up to 200 characters; "
                          "our own offer is never treated as a competitor")


class RuleSpec(PricingRule):
    """A pricing rule; without account_id/marketplace_id it applies to every store."""

    name: str = Field(default="", max_length=MAX_ID_LENGTH, description="Taken from the resource name")
    account_id: Id | None = Field(default=None, description="Only this account's stores; up to 200 characters")
    marketplace_id: Id | None = Field(default=None, description="Only this marketplace; up to 200 characters")

    def for_store(self, account_id: str, marketplace_id: str) -> bool:
        return (self.account_id in (None, account_id)) and (self.marketplace_id in (None, marketplace_id))


class CurrencyRate(ConfigSpec):
    """1 from_currency = rate to_currency. Commerce's rates (CurrencyRatesObserved) need no resource; one declared
    here overrides Commerce's for its pair, in both directions."""

    from_currency: str = Field(pattern=CURRENCY, description="ISO 4217 code, e.g. USD")
    to_currency: str = Field(pattern=CURRENCY, description="ISO 4217 code, e.g. CAD")
    rate: Rate = Field(
        description="0.000001 to 1,000,000 with at most 10 decimal places, so the inverse rate stays in range too"
    )


def _one_settings_per_store(spec: Any, specs: Specs) -> list[str | tuple[str, str]]:
    same = [s for s in specs.get("ListingPriceSettings", {}).values()
            if (s.account_id, s.marketplace_id) == (spec.account_id, spec.marketplace_id)]
    return [("marketplace_id", f"{spec.account_id}/{spec.marketplace_id} has {len(same)} settings; "
             "one store takes one")] if len(same) > 1 else []


def _one_rate_per_pair(spec: Any, specs: Specs) -> list[str | tuple[str, str]]:
    pair = {spec.from_currency, spec.to_currency}
    same = [s for s in specs.get("CurrencyRate", {}).values() if {s.from_currency, s.to_currency} == pair]
    if spec.from_currency == spec.to_currency:
        return [("to_currency", "must differ from from_currency")]
    return [("to_currency", f"{len(same)} rates for {'/'.join(sorted(pair))}")] if len(same) > 1 else []


def registry() -> ConfigRegistry:
    return ConfigRegistry(
        ConfigKind("ListingPriceSettings", StoreSettings, validate=_one_settings_per_store),
        ConfigKind("PricingRule", RuleSpec),
        ConfigKind("CurrencyRate", CurrencyRate, validate=_one_rate_per_pair),
    )


MATCHED_KEPT = 200_000
"""Products whose matching rules one configuration remembers; then it starts over."""


@dataclass(frozen=True)
class PricingConfig:
    """Everything configured, as the handlers read it."""

    settings: Mapping[tuple[str, str], StoreSettings] = field(default_factory=dict)
    rules: tuple[RuleSpec, ...] = ()
    rates: Mapping[str, Decimal] = field(default_factory=dict)
    _matched: dict[Hashable, list[PricingRule]] = field(default_factory=dict, compare=False, repr=False)

    def rules_for(self, account_id: str, marketplace_id: str) -> list[PricingRule]:
        return [r for r in self.rules if r.for_store(account_id, marketplace_id)]

    def matching_rules(self, account_id: str, marketplace_id: str, product: ProductPriceData,
                       product_key: Hashable, now: datetime) -> list[PricingRule]:
        """The store's rules that apply to the product on `now`'s date, in priority order.

        A listing is repriced on every offer change while its product and the rules rarely
        change, so the answer is kept per product (`product_key` must change whenever anything
        a condition reads does) and day, for as long as this configuration is the live one."""
        key = (account_id, marketplace_id, product_key, now.date())
        found = self._matched.get(key)
        if found is None:
            if len(self._matched) >= MATCHED_KEPT:
                self._matched.clear()
            found = applicable_rules(self.rules_for(account_id, marketplace_id), product, now)
            self._matched[key] = found
        return found

    @classmethod
    def of(cls, settings: Mapping[str, BaseModel], rules: Mapping[str, BaseModel],
           rates: Mapping[str, BaseModel], commerce_rates: Iterable[CommerceRates] = ()) -> PricingConfig:
        """The configured resources; `commerce_rates` (Commerce's, oldest first) fill in the currency rates not
        configured, a configured CurrencyRate overriding Commerce's for its pair."""
        configured = {f"{r.from_currency}/{r.to_currency}": r.rate for r in rates.values()}  # type: ignore[attr-defined]
        return cls(
            settings={(s.account_id, s.marketplace_id): s for s in settings.values()},  # type: ignore[attr-defined]
            rules=tuple(r.model_copy(update={"name": name}) for name, r in sorted(rules.items())),  # type: ignore[misc]
            rates=with_commerce_rates(configured, commerce_rates),
        )


async def load_config(pool: Any, reg: ConfigRegistry) -> PricingConfig:
    return PricingConfig.of(
        await load(pool, reg, "ListingPriceSettings"),
        await load(pool, reg, "PricingRule"),
        await load(pool, reg, "CurrencyRate"),
        await commerce_rates.load(pool),
    )
