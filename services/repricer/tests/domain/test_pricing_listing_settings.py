"""Spec §10: listing price settings: price source, MAP, MSRP, VAT, conversion, scope, B2B."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError
from repricer_pricing_builders import price_of, product, settings, standard, usd

from repricer.domain import BusinessTier, MissingCurrencyRate, NoPriceSource, PriceScope, Website

TWO_SITES = [Website(code="site1", sort_order=1), Website(code="site2", sort_order=2)]


def test_check_1_empty_special_price_source_falls_back_to_price() -> None:
    decision = price_of({"price": "40", "special_price": None}, store=settings(price_source_attribute="special_price"))
    assert decision.price == usd("40.00")
    assert decision.trace[0].step == "base_price"
    assert decision.trace[0].detail == "price source: special_price is empty, so price 40 (default scope)"


def test_a_set_special_price_is_the_base() -> None:
    decision = price_of({"price": "40", "special_price": "33.50"}, store=settings(price_source_attribute="special_price"))
    assert decision.price == usd("33.50")


def test_no_price_at_all_is_a_domain_error() -> None:
    with pytest.raises(NoPriceSource):
        price_of({"cost": "3"})


def test_check_2_map_35_lifts_30_to_35() -> None:
    rule = standard("minus 10", "decrease", "fixed", "10", priority=1)
    decision = price_of({"price": "40", "map": "35"}, [rule], store=settings(map_attribute="map"))
    assert decision.price == usd("35")
    assert [s.step for s in decision.trace] == ["base_price", "rule", "map"]


def test_check_2_empty_map_is_ignored() -> None:
    rule = standard("minus 10", "decrease", "fixed", "10", priority=1)
    decision = price_of({"price": "40", "map": ""}, [rule], store=settings(map_attribute="map"))
    assert decision.price == usd("30.00")


def test_check_3_msrp_50_above_listing_40_is_the_strike_through() -> None:
    decision = price_of({"price": "40", "msrp": "50"}, store=settings(msrp_attribute="msrp"))
    assert decision.strike_through == usd("50")


def test_check_3_msrp_30_below_listing_40_gives_none() -> None:
    decision = price_of({"price": "40", "msrp": "30"}, store=settings(msrp_attribute="msrp"))
    assert decision.strike_through is None


def test_check_4_vat_5_percent_on_100_after_standard_rules_is_105_00() -> None:
    rule = standard("plus 20", "increase", "fixed", "20", priority=1)
    decision = price_of({"price": "80"}, [rule], store=settings(vat_enabled=True, vat_percent="5"))
    assert decision.price == usd("105.00")
    assert decision.trace[-1].step == "vat"


def test_vat_percentage_10_2_means_10_20_percent_rounded_half_up() -> None:
    decision = price_of({"price": "19.99"}, store=settings(vat_enabled=True, vat_percent="10.2"))
    assert decision.price == usd("22.03")  # 19.99 * 1.102 = 22.02898


def test_currency_conversion_uses_the_platform_rate_pair() -> None:
    store = settings(marketplace_id="A2EUQ1WTGCTBG2", marketplace_currency="USD", currency_conversion_enabled=True)
    decision = price_of(item=product({"price": "100"}, currency="CAD"), store=store,
                        rates={"CAD/USD": Decimal("0.7345")})
    assert decision.price == usd("73.45")
    assert any(s.step == "currency" and "0.7345" in s.detail for s in decision.trace)


def test_the_inverse_rate_serves_when_only_the_opposite_pair_is_known() -> None:
    store = settings(marketplace_currency="USD", currency_conversion_enabled=True)
    decision = price_of(item=product({"price": "100"}, currency="EUR"), store=store, rates={"USD/EUR": Decimal("0.8")})
    assert decision.price == usd("125.00")


def test_conversion_without_a_rate_is_a_domain_error() -> None:
    store = settings(marketplace_currency="USD", currency_conversion_enabled=True)
    with pytest.raises(MissingCurrencyRate):
        price_of(item=product({"price": "100"}, currency="CAD"), store=store)


def test_conversion_disabled_publishes_the_commerce_amount_in_the_marketplace_currency() -> None:
    decision = price_of(item=product({"price": "100"}, currency="CAD"), store=settings(marketplace_currency="USD"))
    assert decision.price == usd("100")


def test_check_5_scope_example_1_first_website_by_sort_order_with_its_own_value() -> None:
    item = product({"price": "31.99"}, websites={"site1": {"price": "24.99"}})
    store = settings(price_scope=PriceScope.WEBSITE, websites=TWO_SITES)
    assert price_of(item=item, store=store).price == usd("24.99")


def test_check_6_scope_example_2_skips_a_website_on_the_default() -> None:
    item = product({"price": "31.99"}, websites={"site2": {"price": "27.99"}})
    store = settings(price_scope=PriceScope.WEBSITE, websites=TWO_SITES)
    assert price_of(item=item, store=store).price == usd("27.99")


def test_check_7_scope_example_3_non_price_source_takes_the_first_website_value() -> None:
    item = product({"price": "31.99", "amazon_price": "30.00"},
                   websites={"site1": {"price": "24.99"}, "site2": {"price": "27.99", "amazon_price": "20.00"}})
    store = settings(price_scope=PriceScope.WEBSITE, websites=TWO_SITES, price_source_attribute="amazon_price")
    assert price_of(item=item, store=store).price == usd("20.00")


def test_website_sort_order_not_list_order_decides() -> None:
    item = product({"price": "31.99"}, websites={"site1": {"price": "24.99"}, "site2": {"price": "27.99"}})
    store = settings(price_scope=PriceScope.WEBSITE,
                     websites=[Website(code="site1", sort_order=5), Website(code="site2", sort_order=2)])
    assert price_of(item=item, store=store).price == usd("27.99")


def test_global_scope_ignores_website_values() -> None:
    item = product({"price": "31.99"}, websites={"site1": {"price": "24.99"}})
    assert price_of(item=item).price == usd("31.99")


def test_check_8_b2b_tier_5_at_5_percent_on_list_100() -> None:
    store = settings(business_pricing_enabled=True, tiered_pricing_enabled=True,
                     business_tiers=[BusinessTier(min_quantity=5, discount_percent="5")])
    decision = price_of({"price": "100"}, store=store)
    assert decision.business_price == usd("100")
    assert [(t.min_quantity, t.price) for t in decision.tiers] == [(5, usd("95.00"))]


def test_check_8_business_price_never_below_one_dollar() -> None:
    store = settings(business_pricing_enabled=True, tiered_pricing_enabled=True,
                     business_tiers=[BusinessTier(min_quantity=5, discount_percent="5")])
    decision = price_of({"price": "0.80"}, store=store)
    assert decision.price == usd("0.80")
    assert decision.business_price == usd("1.00")
    assert decision.tiers[0].price == usd("1.00")


def test_business_price_follows_the_list_price_after_rules() -> None:
    rule = standard("10 off", "decrease", "percent", "10", priority=1)
    decision = price_of({"price": "50"}, [rule], store=settings(business_pricing_enabled=True))
    assert decision.business_price == usd("45.00") and decision.tiers == []


def test_business_pricing_disabled_gives_no_business_price() -> None:
    assert price_of({"price": "50"}).business_price is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"vat_percent": "abc"}, "vat_percent"),
        ({"vat_percent": "-1"}, "vat_percent"),
        ({"vat_percent": "101"}, "vat_percent"),
        ({"marketplace_currency": "usd"}, "marketplace_currency"),
        ({"business_tiers": [BusinessTier(min_quantity=q, discount_percent="1") for q in range(2, 8)]},
         "business_tiers"),
        ({"business_tiers": [{"min_quantity": 5, "discount_percent": "5"},
                             {"min_quantity": 5, "discount_percent": "6"}]}, "business_tiers"),
        ({"business_tiers": [{"min_quantity": 5, "discount_percent": "100"}]}, "business_tiers"),
        ({"price_scope": "website"}, "websites"),
        ({"guards": {"max_step_percent": "0"}}, "max_step_percent"),
        ({"guards": {"min_change_amount": "x"}}, "min_change_amount"),
    ],
)
def test_invalid_settings_name_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        settings(**fields)
    assert field in str(error.value)


def test_defaults_follow_the_spec() -> None:
    store = settings()
    assert store.price_source_attribute == "price" and store.map_attribute is None
    assert not store.vat_enabled and store.vat_percent == 0 and not store.currency_conversion_enabled
    assert store.price_scope is PriceScope.GLOBAL and store.compare_landed_price
    assert not store.business_pricing_enabled and not store.tiered_pricing_enabled
    guards = store.guards
    assert guards.enforce_band and guards.limit_step and guards.detect_price_war and guards.skip_small_changes
    assert guards.max_step_percent == 20 and guards.price_war_undercuts == 3
    assert guards.min_change_amount == Decimal("0.01")
