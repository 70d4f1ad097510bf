"""What the hot path keeps between decisions gives the same prices as working everything out
again: matched rules per product and day, parsed products, offer conditions, and competition
compared as data rather than as PostgreSQL's text."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from repricer_pricing_builders import NOW, TODAY, in_category, market, offer, ours, product, standard
from repricer_pricing_builders import settings as store_settings
from test_pricing_properties import intelligent_rules, prices, snapshots, standard_rules

from repricer import config as config_module
from repricer import translate
from repricer.config import PricingConfig, RuleSpec, StoreSettings
from repricer.domain import ItemCondition, applicable_rules, decide
from repricer.domain.item_condition import fallback_groups, fallback_walk, offer_condition

categories = st.sampled_from(["10", "11", "12"])


@st.composite
def rules_in_categories(draw: st.DrawFn) -> list:
    rules = draw(st.lists(st.one_of(standard_rules(), intelligent_rules()), max_size=4))
    return [r.model_copy(update={"conditions": in_category(draw(categories))}) if draw(st.booleans()) else r
            for r in rules]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prices, rules_in_categories(), snapshots, categories)
def test_deciding_with_the_matched_rules_gives_the_same_decision(item, rules, snapshot, category) -> None:
    goods = product(item, category_ids=[category])
    whole = decide(goods, store_settings(), rules, ours(), NOW, market=snapshot)
    matched = applicable_rules(rules, goods, NOW)
    assert all(r in rules for r in matched)
    assert decide(goods, store_settings(), matched, ours(), NOW, market=snapshot, rules_matched=True) == whole


def _config(*rules: RuleSpec) -> PricingConfig:
    store = StoreSettings(account_id="a", marketplace_id="m", marketplace_currency="USD", seller_id="ME")
    return PricingConfig(settings={("a", "m"): store}, rules=rules)


def _rule(name: str, priority: int, category: str, **dates) -> RuleSpec:
    base = standard(name, "decrease", "percent", "10", priority=priority, conditions=in_category(category), **dates)
    return RuleSpec.model_validate({**base.model_dump(), "account_id": "a"})


def test_matching_rules_are_kept_per_product_and_day() -> None:
    ends_today = _rule("ends-today", 1, "10", to_date=TODAY)
    always = _rule("always", 2, "10")
    other = _rule("other-category", 3, "11")
    config = _config(other, always, ends_today)
    bag = product({"price": Decimal("20")}, category_ids=["10"])
    first = config.matching_rules("a", "m", bag, "bag-v1", NOW)
    assert [r.name for r in first] == ["ends-today", "always"]
    assert config.matching_rules("a", "m", bag, "bag-v1", NOW) is first
    moved = product({"price": Decimal("20")}, category_ids=["11"])
    assert [r.name for r in config.matching_rules("a", "m", moved, "bag-v2", NOW)] == ["other-category"]
    tomorrow = NOW + timedelta(days=1)
    assert [r.name for r in config.matching_rules("a", "m", bag, "bag-v1", tomorrow)] == ["always"]
    assert config.matching_rules("other", "m", bag, "bag-v1", NOW) == []


def test_a_new_configuration_starts_with_nothing_kept() -> None:
    bag = product({"price": Decimal("20")}, category_ids=["10"])
    old = _config(_rule("old", 1, "10"))
    assert [r.name for r in old.matching_rules("a", "m", bag, "bag", NOW)] == ["old"]
    new = _config(_rule("new", 1, "10"))
    assert [r.name for r in new.matching_rules("a", "m", bag, "bag", NOW)] == ["new"]


def test_what_is_kept_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(config_module, "MATCHED_KEPT", 3)
    config = _config(_rule("r", 1, "10"))
    for i in range(10):
        config.matching_rules("a", "m", product({"price": Decimal(i + 1)}), f"p{i}", NOW)
        assert len(config._matched) <= 3


def test_a_stored_product_reads_like_a_parsed_one() -> None:
    attributes = {"cost": "10.50", "category_ids": "2,10", "brand": "acme"}
    websites = {"base": {"special_price": "9.99"}}
    key = ("SKU-9", "USD", Decimal("20"), json.dumps(attributes), json.dumps(websites))
    assert translate.stored_product(key) == translate.product_prices("SKU-9", "USD", Decimal("20"), attributes, websites)
    assert translate.stored_product(key) is translate.stored_product(key)


def test_offer_conditions_and_fallback_groups_are_stable_when_remembered() -> None:
    assert offer_condition("used", "very_good") is ItemCondition.USED_VERY_GOOD
    assert offer_condition("used", "very_good") is ItemCondition.USED_VERY_GOOD
    assert offer_condition("Used", "Very Good") is ItemCondition.USED_VERY_GOOD
    assert offer_condition("mystery") is None
    for condition in ItemCondition:
        assert [list(g) for g in fallback_groups(condition)] == fallback_walk(condition)


def test_stored_competition_compares_as_data_whatever_the_key_order() -> None:
    snapshot = market(offer("25.00", buy_box=True), offer("23.00", seller="CHEAP", shipping="1.00"))
    analysis = translate.competition(snapshot, "ME").as_dict(translate.landed(snapshot.offers[0]))
    # jsonb's text: keys by length, then bytes; ", " and ": " separators
    as_postgres_writes_it = ('{"lowest": {"amount": "24.00", "currency": "USD"}, "buy_box": {"amount": "25.00", '
                             '"currency": "USD"}, "our_price": {"amount": "25.00", "currency": "USD"}, '
                             '"we_hold_buy_box": false}')
    assert translate.stored_competition(as_postgres_writes_it) == analysis
    assert translate.stored_competition(None) is None
    assert json.loads(translate.competition(snapshot, "ME").as_json(None))["our_price"] is None


def test_the_lowest_competitor_is_the_lowest_landed_price() -> None:
    snapshot = market(offer("20.00", seller="A", shipping="6.00"), offer("22.00", seller="B", shipping="0"),
                      offer("1.00", seller="ME", ours=True))
    found = translate.competition(snapshot, "ME")
    assert found.lowest is not None and found.lowest.amount == Decimal("22.00")
    assert found.we_hold_buy_box is None


def test_price_history_survives_storage_and_keeps_a_day_of_changes() -> None:
    from contracts import Money
    from repricer.domain import PriceChange, PriceDecision, PriceHistory

    def usd(amount: str) -> Money:
        return Money(amount=Decimal(amount), currency="USD")

    old = PriceChange(at=NOW - timedelta(hours=30), old_price=None, new_price=usd("9"))
    recent = PriceChange(at=NOW - timedelta(hours=1), old_price=usd("9"), new_price=usd("10"),
                         competitor_seller_id="RIVAL")
    decision = PriceDecision(sku="S", price=usd("11.50"), previous_price=usd("10"), send=True, trace=[])
    stored = translate.history_after(PriceHistory(changes=[old, recent]), decision, NOW)
    again = translate.history_from_json(Decimal("11.50"), "USD", stored)
    assert again.changes[0] == recent
    assert again.changes[1].new_price == usd("11.50") and again.changes[1].old_price == usd("10")
    assert again.changes[1].at == NOW and len(again.changes) == 2
    assert again.live_price == usd("11.50")
    assert translate.history_from_json(None, None, None) == PriceHistory()


def test_how_many_parsed_products_are_kept_is_a_setting() -> None:
    from repricer.service import Settings, build

    try:
        build(Settings(product_cache_size=2))
        assert translate.stored_product.cache_info().maxsize == 2
        keys = [(f"SKU-{i}", "USD", Decimal(i + 1), "{}", "{}") for i in range(3)]
        parsed = [translate.stored_product(k) for k in keys]
        assert [p.prices["price"] for p in parsed] == [Decimal(1), Decimal(2), Decimal(3)]
        assert translate.stored_product.cache_info().currsize == 2
        translate.keep_products(0)
        assert translate.stored_product(keys[0]) == parsed[0]
        assert translate.stored_product.cache_info().currsize == 0
    finally:
        translate.keep_products(translate.PRODUCTS_KEPT)
