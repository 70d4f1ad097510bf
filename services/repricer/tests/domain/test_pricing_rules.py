"""Spec §11: stacking, priority, discard, dates, conditions and validation of pricing rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from repricer_pricing_builders import NOW, TODAY, in_category, price_of, product, standard, usd

from conditions import AttributeCondition, Combination
from repricer.domain import IntelligentAction, PriceBound, PricingRule, StandardAction

SALE = "12"


def sale_rules() -> list[PricingRule]:
    return [
        standard("5% off all products", "decrease", "percent", "5", priority=3),
        standard("$2 off sale products", "decrease", "fixed", "2", priority=2, discard=True,
                 conditions=in_category(SALE)),
        standard("10% off sale products", "decrease", "percent", "10", priority=1, conditions=in_category(SALE)),
    ]


def test_check_2_sale_item_100_becomes_90_then_88_and_rule_3_is_skipped() -> None:
    decision = price_of(item=product({"price": "100"}, category_ids=[SALE, "3"]), rules=sale_rules())
    assert decision.price == usd("88.00")
    rule_steps = [s for s in decision.trace if s.step == "rule"]
    assert [s.price for s in rule_steps] == [usd("90.00"), usd("88.00")]
    assert "10% off sale" in rule_steps[0].detail and "$2 off sale" in rule_steps[1].detail


def test_check_2_other_item_100_becomes_95() -> None:
    decision = price_of(item=product({"price": "100"}, category_ids=["3"]), rules=sale_rules())
    assert decision.price == usd("95.00")


def test_docs_two_standard_rules_round_after_each_step() -> None:
    rules = [standard("Rule-1", "decrease", "percent", "10", priority=1),
             standard("Rule-2", "decrease", "fixed", "10", priority=2)]
    assert price_of({"price": "45.49"}, rules).price == usd("30.94")
    assert price_of({"price": "47.76"}, rules).price == usd("32.98")


def test_rounding_is_half_up_after_each_rule() -> None:
    rules = [standard("a", "decrease", "percent", "50", priority=1),
             standard("b", "decrease", "percent", "50", priority=2)]
    # 0.05 -> 0.025 -> 0.03 (half up) -> 0.015 -> 0.02; unrounded would be 0.0125 -> 0.01
    assert price_of({"price": "0.05"}, rules).price == usd("0.02")


def test_increase_by_percent_and_fixed() -> None:
    rules = [standard("a", "increase", "percent", "25", priority=1),
             standard("b", "increase", "fixed", "1.50", priority=2)]
    assert price_of({"price": "10"}, rules).price == usd("14.00")


def test_a_decrease_never_takes_the_price_below_zero() -> None:
    decision = price_of({"price": "5"}, [standard("a", "decrease", "fixed", "9", priority=1)])
    assert decision.price == usd("0.00") and not decision.send and decision.held


def test_rules_without_priority_apply_after_numbered_ones() -> None:
    rules = [standard("unnumbered", "decrease", "fixed", "10"), standard("first", "decrease", "percent", "50", priority=9)]
    assert price_of({"price": "100"}, rules).price == usd("40.00")


def test_check_3_inactive_rule_has_no_effect() -> None:
    rule = standard("off", "decrease", "percent", "50", priority=1, active=False)
    assert price_of({"price": "100"}, [rule]).price == usd("100")


def test_check_3_rule_before_its_from_date_has_no_effect() -> None:
    rule = standard("soon", "decrease", "percent", "50", priority=1, from_date=TODAY + timedelta(days=1))
    assert price_of({"price": "100"}, [rule]).price == usd("100")


def test_check_3_after_the_to_date_the_price_returns_to_base_on_the_next_cycle() -> None:
    rule = standard("sale", "decrease", "percent", "50", priority=1, from_date=TODAY - timedelta(days=3), to_date=TODAY)
    assert price_of({"price": "100"}, [rule], now=NOW).price == usd("50.00")
    assert price_of({"price": "100"}, [rule], now=NOW + timedelta(days=1)).price == usd("100")


def test_an_inactive_discarding_rule_does_not_stop_later_rules() -> None:
    rules = [standard("stopper", "decrease", "fixed", "1", priority=1, discard=True, active=False),
             standard("later", "decrease", "fixed", "10", priority=2)]
    assert price_of({"price": "100"}, rules).price == usd("90.00")


def test_a_discarding_rule_that_does_not_match_does_not_stop_later_rules() -> None:
    rules = [standard("sale stop", "decrease", "fixed", "1", priority=1, discard=True, conditions=in_category(SALE)),
             standard("later", "decrease", "fixed", "10", priority=2)]
    assert price_of(item=product({"price": "100"}, category_ids=["3"]), rules=rules).price == usd("90.00")


def test_check_4_discard_without_priority_names_priority() -> None:
    with pytest.raises(ValidationError) as error:
        standard("stop", "decrease", "fixed", "1", discard=True)
    assert error.value.errors()[0]["loc"] == ("priority",)


def test_check_4_amount_abc_is_rejected() -> None:
    with pytest.raises(ValidationError) as error:
        standard("bad", "decrease", "fixed", "abc", priority=1)
    assert "amount" in str(error.value) and "must be a number" in str(error.value)


@pytest.mark.parametrize("amount", ["-5", "nan", "Infinity", True])
def test_amounts_must_be_finite_non_negative_numbers(amount: object) -> None:
    with pytest.raises(ValidationError):
        StandardAction(direction="decrease", apply_as="fixed", amount=amount)


def test_a_percentage_decrease_cannot_exceed_100() -> None:
    with pytest.raises(ValidationError, match="amount"):
        StandardAction(direction="decrease", apply_as="percent", amount="100.01")
    assert StandardAction(direction="increase", apply_as="percent", amount="150").amount == 150


def test_to_date_before_from_date_is_rejected() -> None:
    with pytest.raises(ValidationError, match="to_date"):
        standard("x", "decrease", "fixed", "1", priority=1, from_date=TODAY, to_date=TODAY - timedelta(days=1))


def test_match_hides_the_adjustment_amount() -> None:
    action = IntelligentAction(competitor_source="buy_box", adjustment="match", apply_as="", amount="",
                               floor=PriceBound(source_attribute="price", action="match", percent=""))
    assert action.amount is None and action.apply_as is None and action.floor.percent is None


def test_a_hidden_amount_is_still_validated() -> None:
    """What the schema refuses is refused even where matching would ignore it."""
    with pytest.raises(ValidationError, match="amount"):
        IntelligentAction(competitor_source="buy_box", adjustment="match", apply_as="fixed", amount="abc",
                          floor=PriceBound(source_attribute="price"))
    with pytest.raises(ValidationError, match="percent"):
        PriceBound(source_attribute="price", action="match", percent=-1)


def test_decrease_needs_apply_and_amount() -> None:
    with pytest.raises(ValidationError, match="amount"):
        IntelligentAction(competitor_source="lowest", adjustment="decrease", apply_as="fixed",
                          floor=PriceBound(source_attribute="price"))
    with pytest.raises(ValidationError, match="apply_as"):
        IntelligentAction(competitor_source="lowest", adjustment="decrease", amount="1",
                          floor=PriceBound(source_attribute="price"))


def test_floor_adjustment_amount_required_unless_match() -> None:
    with pytest.raises(ValidationError, match="percent"):
        PriceBound(source_attribute="cost", action="increase")
    assert PriceBound(source_attribute="cost", action="match").percent is None
    assert PriceBound(source_attribute="cost", action="match", percent="").percent is None


@pytest.mark.parametrize(
    ("variances", "ok"),
    [
        ({"used_good": "80"}, True),
        ({"used_good": "0"}, False),
        ({"used_good": "101"}, False),
        ({"collectible_good": "140"}, True),
        ({"new_new": "90"}, False),
        ({"new_new": "100"}, True),
    ],
)
def test_condition_variances_1_to_100_collectibles_may_exceed_new_fixed(variances: dict[str, str], ok: bool) -> None:
    def build() -> IntelligentAction:
        return IntelligentAction(competitor_source="lowest", variance_mode="apply_variance",
                                 condition_variances=variances, floor=PriceBound(source_attribute="price"))

    if ok:
        assert build().variance(next(iter(build().condition_variances))) >= 1
    else:
        with pytest.raises(ValidationError, match="condition_variances"):
            build()


@pytest.mark.parametrize("percent", [50, 85, 100])
def test_min_feedback_is_one_of_the_offered_levels(percent: int) -> None:
    with pytest.raises(ValidationError, match="min_feedback_percent"):
        IntelligentAction(competitor_source="lowest", min_feedback_percent=percent,
                          floor=PriceBound(source_attribute="price"))


def test_rule_type_is_a_discriminated_union() -> None:
    rule = PricingRule.model_validate({
        "name": "json rule", "priority": 2,
        "action": {"type": "standard", "direction": "increase", "apply_as": "percent", "amount": 12.5},
    })
    assert isinstance(rule.action, StandardAction) and str(rule.action.amount) == "12.5"
    with pytest.raises(ValidationError):
        PricingRule.model_validate({"name": "x", "action": {"type": "magic"}})


def test_conditions_can_test_price_attributes_and_the_sku() -> None:
    expensive = Combination(conditions=[AttributeCondition(attribute="price", operator=">", value="50")])
    rule = standard("premium", "increase", "fixed", "5", priority=1, conditions=expensive)
    assert price_of({"price": "60"}, [rule]).price == usd("65")
    assert price_of({"price": "40"}, [rule]).price == usd("40")
    by_sku = Combination(conditions=[AttributeCondition(attribute="sku", operator="==", value="SKU-1")])
    assert price_of({"price": "40"}, [standard("one", "increase", "fixed", "1", priority=1,
                                               conditions=by_sku)]).price == usd("41")
