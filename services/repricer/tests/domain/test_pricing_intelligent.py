"""Spec §12: intelligent repricing against the Buy Box or the lowest competitor, floor and ceiling."""

from __future__ import annotations

from decimal import Decimal

from repricer_pricing_builders import (
    NO_GUARDS,
    OUR_SELLER,
    intelligent,
    market,
    money,
    offer,
    ours,
    price_of,
    product,
    settings,
    standard,
    usd,
)

from repricer.domain import ItemCondition, PriceBound

FLOOR_PRICE_MINUS_20 = PriceBound(source_attribute="price", action="decrease", percent="20")


def test_check_a_buy_box_below_price_keeps_the_price_floor() -> None:
    decision = price_of({"price": "15"}, [intelligent()], snapshot=market(offer("10", buy_box=True)))
    assert decision.price == usd("15")
    assert decision.floor == usd("15") and decision.competitor.price == usd("10")
    assert any(s.step == "floor" and "binds" in s.detail and "not" not in s.detail for s in decision.trace)


def test_check_a_buy_box_above_price_is_matched() -> None:
    decision = price_of({"price": "5"}, [intelligent()], snapshot=market(offer("10", buy_box=True)))
    assert decision.price == usd("10")


def test_check_b_price_20_floor_16_buy_box_15_gives_16() -> None:
    decision = price_of({"price": "20"}, [intelligent(floor=FLOOR_PRICE_MINUS_20)],
                        snapshot=market(offer("15", buy_box=True)))
    assert decision.floor == usd("16.00") and decision.price == usd("16.00")


def test_check_b_price_15_floor_12_buy_box_15_gives_15() -> None:
    decision = price_of({"price": "15"}, [intelligent(floor=FLOOR_PRICE_MINUS_20)],
                        snapshot=market(offer("15", buy_box=True)))
    assert decision.floor == usd("12.00") and decision.price == usd("15")


def test_check_b_price_17_floor_13_60_buy_box_15_gives_15() -> None:
    decision = price_of({"price": "17"}, [intelligent(floor=FLOOR_PRICE_MINUS_20)],
                        snapshot=market(offer("15", buy_box=True)))
    assert decision.floor == usd("13.60") and decision.price == usd("15")


def test_check_g_floor_cost_5_plus_5_percent_is_5_25_and_holds_against_4() -> None:
    rule = intelligent(source="lowest", floor=PriceBound(source_attribute="cost", action="increase", percent="5"))
    decision = price_of({"price": "9", "cost": "5"}, [rule], snapshot=market(offer("4")))
    assert decision.floor == usd("5.25") and decision.price == usd("5.25")


def test_check_g_ui_hint_floor_10_plus_10_percent_is_11() -> None:
    rule = intelligent(source="lowest", floor=PriceBound(source_attribute="cost", action="increase", percent="10"))
    decision = price_of({"price": "30", "cost": "10"}, [rule], snapshot=market(offer("2")))
    assert decision.price == usd("11.00")


def test_check_g_ui_hint_ceiling_100_plus_10_percent_is_110() -> None:
    rule = intelligent(source="lowest", ceiling=PriceBound(source_attribute="msrp", action="increase", percent="10"))
    decision = price_of({"price": "30", "msrp": "100"}, [rule], snapshot=market(offer("250")))
    assert decision.ceiling == usd("110.00") and decision.price == usd("110.00")


def test_check_h_empty_floor_attribute_falls_back_to_catalog_price() -> None:
    rule = intelligent(floor=PriceBound(source_attribute="cost", action="match"))
    decision = price_of({"price": "20", "cost": None}, [rule], snapshot=market(offer("12", buy_box=True)))
    assert decision.floor == usd("20") and decision.price == usd("20")


def test_check_i_only_matching_refurbished_against_only_new_prices_at_the_price_source() -> None:
    rule = intelligent(source="lowest", variance_mode="matching_only",
                       floor=PriceBound(source_attribute="cost", action="match"))
    decision = price_of({"price": "40", "cost": "10"}, [rule], listing=ours(ItemCondition.REFURBISHED),
                        snapshot=market(offer("25"), offer("22", seller="B")))
    assert decision.price == usd("40")
    assert decision.competitor.price is None and "our condition" in decision.competitor.reason


def test_variance_formula_worked_example_7_99_new_against_used_good_at_80_is_6_39() -> None:
    rule = intelligent(source="lowest", variance_mode="apply_variance", condition_variances={"used_good": "80"},
                       floor=PriceBound(source_attribute="cost", action="match"))
    decision = price_of({"price": "20", "cost": "1"}, [rule], listing=ours(ItemCondition.USED_GOOD),
                        snapshot=market(offer("7.99"), offer("9.50", seller="B")))
    # base = BMP x (100 - (BMC - MCV)) / 100 = 7.99 x (100 - (100 - 80)) / 100 = 6.392
    assert decision.competitor.price == usd("6.39")
    assert decision.price == usd("6.39")
    assert "7.99 × (100 − (100 − 80)) / 100 = 6.39" in decision.competitor.reason


def test_apply_variance_uses_our_own_condition_first_without_variance() -> None:
    rule = intelligent(source="lowest", variance_mode="apply_variance", condition_variances={"used_good": "80"},
                       floor=PriceBound(source_attribute="cost", action="match"))
    decision = price_of({"price": "20", "cost": "1"}, [rule], listing=ours(ItemCondition.USED_GOOD),
                        snapshot=market(offer("7.99"), offer("8.40", seller="B", condition="used", sub="good")))
    assert decision.price == usd("8.40")


def test_apply_variance_above_100_for_a_collectible_raises_the_base() -> None:
    rule = intelligent(source="lowest", variance_mode="apply_variance",
                       condition_variances={"collectible_good": "150"},
                       floor=PriceBound(source_attribute="cost", action="match"))
    decision = price_of({"price": "20", "cost": "1"}, [rule], listing=ours(ItemCondition.COLLECTIBLE_GOOD),
                        snapshot=market(offer("10")))
    assert decision.price == usd("15.00")  # 10 x (100 - (100 - 150)) / 100


def lowest_all_conditions_market():
    return market(offer("17", seller="S1"), offer("15", seller="S2"),
                  offer("14", seller="S3", condition="used", sub="very_good"),
                  offer("13", seller="S4", condition="used", sub="good"))


def test_docs_lowest_all_conditions_new_listing_matches_15() -> None:
    rule = intelligent(source="lowest")
    decision = price_of({"price": "10"}, [rule], snapshot=lowest_all_conditions_market())
    assert decision.price == usd("15")


def test_docs_lowest_all_conditions_used_acceptable_takes_the_lowest_used_13() -> None:
    rule = intelligent(source="lowest")
    decision = price_of({"price": "10"}, [rule], listing=ours(ItemCondition.USED_ACCEPTABLE),
                        snapshot=lowest_all_conditions_market())
    assert decision.price == usd("13")
    assert decision.competitor.seller_id == "S4" and decision.competitor.condition is ItemCondition.USED_GOOD


def test_without_own_family_offers_the_walk_starts_at_new() -> None:
    rule = intelligent(source="lowest")
    snapshot = market(offer("30", condition="refurbished", sub="refurbished"), offer("40"),
                      offer("20", condition="collectible", sub="good"))
    decision = price_of({"price": "10"}, [rule], listing=ours(ItemCondition.USED_GOOD), snapshot=snapshot)
    assert decision.price == usd("40")


def test_decrease_by_one_cent_below_the_lowest() -> None:
    rule = intelligent(source="lowest", adjustment="decrease", apply_as="fixed", amount="0.01")
    decision = price_of({"price": "10"}, [rule], snapshot=market(offer("25")))
    assert decision.price == usd("24.99")
    assert [s.step for s in decision.trace[:4]] == ["base_price", "competitor", "adjustment", "floor"]


def test_increase_by_percent_over_the_buy_box() -> None:
    rule = intelligent(adjustment="increase", apply_as="percent", amount="10")
    decision = price_of({"price": "1"}, [rule], snapshot=market(offer("19.99", buy_box=True)))
    assert decision.price == usd("21.99")  # 21.989 half up


def test_minimum_feedback_and_count_filter_the_lowest_competitor() -> None:
    rule = intelligent(source="lowest", min_feedback_percent=95, min_feedback_count=1000)
    snapshot = market(offer("20", seller="LOWRATED", rating=90, count=50000),
                      offer("21", seller="FEWRATINGS", rating=99, count=20),
                      offer("25", seller="GOOD", rating=96, count=1000))
    decision = price_of({"price": "1"}, [rule], snapshot=snapshot)
    assert decision.price == usd("25") and decision.competitor.seller_id == "GOOD"


def test_no_competitor_passes_the_feedback_filter() -> None:
    rule = intelligent(source="lowest", min_feedback_percent=98)
    decision = price_of({"price": "30"}, [rule], snapshot=market(offer("20", rating=None, count=None)))
    assert decision.price == usd("30") and "feedback" in decision.competitor.reason


def test_feedback_filters_do_not_apply_to_the_buy_box() -> None:
    rule = intelligent(min_feedback_percent=98, min_feedback_count=100000)
    decision = price_of({"price": "1"}, [rule], snapshot=market(offer("20", buy_box=True, rating=50, count=3)))
    assert decision.price == usd("20")


def test_landed_price_includes_shipping_by_default() -> None:
    decision = price_of({"price": "1"}, [intelligent(source="lowest")],
                        snapshot=market(offer("20", shipping="4.99"), offer("23", seller="B")))
    assert decision.price == usd("23") and decision.competitor.seller_id == "B"


def test_item_price_comparison_when_landed_price_is_switched_off() -> None:
    decision = price_of({"price": "1"}, [intelligent(source="lowest")],
                        store=settings(compare_landed_price=False),
                        snapshot=market(offer("20", shipping="4.99"), offer("23", seller="B")))
    assert decision.price == usd("20")


def test_our_shipping_is_taken_off_a_landed_competitor_price() -> None:
    decision = price_of({"price": "1"}, [intelligent(source="lowest")], listing=ours(shipping=usd("3.00")),
                        snapshot=market(offer("20", shipping="4.99")))
    assert decision.price == usd("21.99")


def test_own_offer_flagged_is_ours_is_never_a_competitor() -> None:
    snapshot = market(offer("9.99", seller="SOMEONE", ours=True, buy_box=True), offer("12", seller="B"))
    decision = price_of({"price": "5"}, [intelligent(source="lowest")], snapshot=snapshot)
    assert decision.price == usd("12") and decision.competitor.seller_id == "B"


def test_own_offer_with_our_seller_id_is_never_a_competitor_even_unflagged() -> None:
    snapshot = market(offer("9.99", seller=OUR_SELLER, ours=False), offer("12", seller="B"))
    decision = price_of({"price": "5"}, [intelligent(source="lowest", adjustment="decrease", apply_as="fixed",
                                                      amount="0.01")], snapshot=snapshot)
    assert decision.price == usd("11.99")


def test_we_hold_the_buy_box_so_there_is_no_buy_box_competitor() -> None:
    snapshot = market(offer("9.99", seller=OUR_SELLER, buy_box=True), offer("12", seller="B"))
    decision = price_of({"price": "14"}, [intelligent(adjustment="decrease", apply_as="fixed", amount="0.01")],
                        snapshot=snapshot)
    assert decision.price == usd("14") and decision.competitor.price is None


def test_no_snapshot_prices_from_the_source_after_standard_rules_then_floor() -> None:
    rules = [standard("minus 30 %", "decrease", "percent", "30", priority=1),
             intelligent(priority=2, floor=PriceBound(source_attribute="cost", action="increase", percent="10"))]
    decision = price_of({"price": "100", "cost": "80"}, rules)
    assert decision.price == usd("88.00")  # 70 is below the floor 80 + 10 %
    assert decision.competitor.reason == "no competitor offers observed"


def test_no_competitor_and_a_floor_that_binds_gets_vat_on_the_bound_value() -> None:
    rules = [standard("minus 10", "decrease", "fixed", "10", priority=1), intelligent(priority=2)]
    store = settings(vat_enabled=True, vat_percent="10", guards=NO_GUARDS)
    decision = price_of({"price": "100"}, rules, store=store, snapshot=market())
    assert decision.price == usd("110.00")
    assert [s.step for s in decision.trace][-3:] == ["floor", "vat", "rule"]


def test_no_competitor_and_an_unbound_floor_keeps_the_standard_result_and_vat_comes_last() -> None:
    floor = PriceBound(source_attribute="cost", action="match")
    rules = [standard("minus 10", "decrease", "fixed", "10", priority=1), intelligent(priority=2, floor=floor)]
    store = settings(vat_enabled=True, vat_percent="10", guards=NO_GUARDS)
    decision = price_of({"price": "100", "cost": "50"}, rules, store=store, snapshot=market())
    assert decision.price == usd("99.00")
    assert decision.trace[-1].step == "vat"


def test_vat_is_not_added_to_a_competitor_price_that_did_not_hit_floor_or_ceiling() -> None:
    store = settings(vat_enabled=True, vat_percent="10")
    decision = price_of({"price": "5"}, [intelligent()], store=store, snapshot=market(offer("10", buy_box=True)))
    assert decision.price == usd("10")
    assert not any(s.step == "vat" for s in decision.trace)


def eur_ceiling_rule(priority: int = 1):
    return intelligent(priority=priority, ceiling=PriceBound(source_attribute="ceiling", action="match"),
                       floor=PriceBound(source_attribute="floor", action="match"))


def eur_store(**guards: bool):
    return settings(marketplace_id="A1PA6795UKMFR9", marketplace_currency="EUR", currency_conversion_enabled=True,
                    vat_enabled=True, vat_percent="10", guards=NO_GUARDS.model_copy(update=guards))


def test_docs_ceiling_hit_is_converted_then_gets_vat_13_75() -> None:
    decision = price_of({"price": "8", "floor": "1", "ceiling": "10"}, [eur_ceiling_rule()], store=eur_store(),
                        rates={"USD/EUR": Decimal("1.25")}, snapshot=market(offer("30", buy_box=True, currency="EUR")))
    assert decision.price == money("13.75", "EUR")
    assert [s.step for s in decision.trace if s.step in ("ceiling", "currency", "vat")] == ["ceiling", "currency", "vat"]
    assert decision.ceiling == money("13.75", "EUR")


def test_docs_standard_rule_after_a_ceiling_hit_applies_to_the_result_18_75() -> None:
    rules = [eur_ceiling_rule(), standard("plus 5", "increase", "fixed", "5.00", priority=2)]
    decision = price_of({"price": "8", "floor": "1", "ceiling": "10"}, rules, store=eur_store(),
                        rates={"USD/EUR": Decimal("1.25")}, snapshot=market(offer("30", buy_box=True, currency="EUR")))
    assert decision.price == money("18.75", "EUR")


def test_the_band_guard_keeps_the_docs_stacking_example_at_the_ceiling() -> None:
    rules = [eur_ceiling_rule(), standard("plus 5", "increase", "fixed", "5.00", priority=2)]
    decision = price_of({"price": "8", "floor": "1", "ceiling": "10"}, rules, store=eur_store(enforce_band=True),
                        rates={"USD/EUR": Decimal("1.25")}, snapshot=market(offer("30", buy_box=True, currency="EUR")))
    assert decision.price == money("13.75", "EUR")
    assert decision.trace[-1].step == "guard" and "band" in decision.trace[-1].detail


def test_offers_in_another_currency_are_not_competitors() -> None:
    decision = price_of({"price": "5"}, [intelligent()], snapshot=market(offer("10", buy_box=True, currency="CAD")))
    assert decision.price == usd("5") and decision.competitor.price is None


def test_buy_box_matching_only_ignores_a_buy_box_in_another_condition() -> None:
    rule = intelligent(variance_mode="matching_only")
    snapshot = market(offer("30", buy_box=True, condition="used", sub="good"))
    assert price_of({"price": "10"}, [rule], snapshot=snapshot).price == usd("10")
    assert price_of({"price": "10"}, [intelligent()], snapshot=snapshot).price == usd("30")


def test_a_discarding_intelligent_rule_stops_later_rules() -> None:
    rule = intelligent(priority=1).model_copy(update={"discard_subsequent": True})
    rules = [rule, standard("later", "increase", "fixed", "5", priority=2)]
    assert price_of({"price": "5"}, rules, snapshot=market(offer("10", buy_box=True))).price == usd("10")


def test_the_standard_rule_after_an_unbound_intelligent_rule_works_on_the_competitor_price() -> None:
    rules = [intelligent(priority=1), standard("later", "increase", "fixed", "5", priority=2)]
    decision = price_of({"price": "5"}, rules, store=settings(guards=NO_GUARDS),
                        snapshot=market(offer("10", buy_box=True)))
    assert decision.price == usd("15")


def test_product_price_data_in_another_currency_feeds_floor_in_marketplace_terms() -> None:
    store = settings(marketplace_currency="USD", currency_conversion_enabled=True)
    decision = price_of(item=product({"price": "20"}, currency="CAD"), rules=[intelligent()], store=store,
                        rates={"CAD/USD": Decimal("0.75")}, snapshot=market(offer("10", buy_box=True)))
    assert decision.floor == usd("15.00") and decision.price == usd("15.00")
