"""Every configuration value is bounded: a value just inside its bound is accepted, one beyond it
(1e308, -1, 2**63, NaN, Infinity, 10,000 characters) is refused naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError
from repricer_pricing_builders import settings

from conditions import AttributeCondition, Combination
from repricer.config import CurrencyRate, RuleSpec, StoreSettings
from repricer.domain import BusinessTier, IntelligentAction, PriceBound, PricingRule, StandardAction, Website
from repricer.domain.limits import MAX_INT

HUGE = ["1e308", 1e308, 2**63, "Infinity", "-Infinity", "NaN", float("nan"), float("inf"), -1, "-1"]
LONG = "x" * 10_000
FLOOR = PriceBound(source_attribute="price")


def refusal_names(exc: ValidationError) -> set[str]:
    """Every field an error points at: its location, and the 'field:' a model-level error names."""
    names: set[str] = set()
    for error in exc.errors():
        names.update(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if ":" in message:
            names.add(message.split(":", 1)[0])
    return names


def assert_refused(build: Callable[[Any], object], value: Any, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        build(value)
    assert field in refusal_names(error.value), error.value


def rate(value: Any) -> CurrencyRate:
    return CurrencyRate(from_currency="USD", to_currency="CAD", rate=value)


def store(**fields: Any) -> StoreSettings:
    base = {"account_id": "acct-1", "marketplace_id": "ATVPDKIKX0DER", "marketplace_currency": "USD",
            "seller_id": "A_OUR_SELLER"}
    return StoreSettings(**{**base, **fields})


def guards(**fields: Any) -> StoreSettings:
    return store(guards=fields)


def standard(direction: str, apply_as: str) -> Callable[[Any], StandardAction]:
    return lambda value: StandardAction(direction=direction, apply_as=apply_as, amount=value)


def intelligent(**fields: Any) -> IntelligentAction:
    return IntelligentAction(**{"competitor_source": "lowest", "floor": FLOOR, **fields})


def rule(**fields: Any) -> PricingRule:
    return PricingRule(**{"name": "r", "priority": 1, "action": standard("decrease", "fixed")("1"), **fields})


def lines(count: int, value: str | list[str] = "1") -> Combination:
    return Combination(conditions=[AttributeCondition(attribute="category_ids", operator="()", value=value)] * count)


# (field, build from one value, values just inside, values beyond)
DECIMALS: list[tuple[str, Callable[[Any], object], list[Any], list[Any]]] = [
    ("rate", rate, ["1000000", "0.000001", "1.3650", "0.1234567891", 1.365],
     [*HUGE, "0", "0.0000009", "1000000.000001", "1.12345678901", True, "abc"]),
    ("amount", standard("decrease", "fixed"), ["1000000000", "0.000001", "0", 19.99],
     [*HUGE, "1000000000.000001", "1000000001", "0.0000001"]),
    ("amount", standard("increase", "percent"), ["1000", "0.000001"], [*HUGE, "1000.000001"]),
    ("amount", standard("decrease", "percent"), ["100"], [*HUGE, "100.000001"]),
    ("amount", lambda v: intelligent(adjustment="increase", apply_as="percent", amount=v), ["1000"],
     [*HUGE, "1000.5"]),
    ("amount", lambda v: intelligent(adjustment="decrease", apply_as="fixed", amount=v), ["1000000000"],
     [*HUGE, "1000000000.5"]),
    ("percent", lambda v: PriceBound(source_attribute="cost", action="increase", percent=v), ["1000", "0"],
     [*HUGE, "1000.000001"]),
    ("percent", lambda v: PriceBound(source_attribute="cost", action="decrease", percent=v), ["100"],
     [*HUGE, "100.5"]),
    ("condition_variances", lambda v: intelligent(condition_variances={"collectible_good": v}), ["1000", "1"],
     [*HUGE, "1000.000001", "0"]),
    ("condition_variances", lambda v: intelligent(condition_variances={"used_good": v}), ["100"], [*HUGE, "101"]),
    ("vat_percent", lambda v: settings(vat_percent=v), ["100", "0", "10.2", "10.123456"],
     [*HUGE, "100.000001", "10.1234567"]),
    ("discount_percent", lambda v: BusinessTier(min_quantity=2, discount_percent=v), ["99.999999", "0.000001"],
     [*HUGE, "100", "0"]),
    ("max_step_percent", lambda v: guards(max_step_percent=v), ["1000", "0.000001"], [*HUGE, "1000.000001", "0"]),
    ("min_change_amount", lambda v: guards(min_change_amount=v), ["1000000000", "0"], [*HUGE, "1000000000.01"]),
]

INTEGERS: list[tuple[str, Callable[[Any], object], list[Any], list[Any]]] = [
    ("priority", lambda v: rule(priority=v), [1, MAX_INT], [0, -1, MAX_INT + 1, 2**63, 1e308, "Infinity"]),
    ("min_feedback_count", lambda v: intelligent(min_feedback_count=v), [0, MAX_INT], [-1, MAX_INT + 1, 2**63]),
    ("price_war_undercuts", lambda v: guards(price_war_undercuts=v), [1, MAX_INT], [0, MAX_INT + 1, 2**63, 1e308]),
    ("sort_order", lambda v: Website(code="base", sort_order=v), [0, MAX_INT], [-1, MAX_INT + 1, 2**63]),
    ("min_quantity", lambda v: BusinessTier(min_quantity=v, discount_percent="5"), [2, MAX_INT],
     [1, MAX_INT + 1, 2**63]),
]

WINDOWS: list[tuple[str, Callable[[Any], object], list[Any], list[Any]]] = [
    ("price_war_window", lambda v: guards(price_war_window=v), ["PT1S", "P365D", 3600, "PT1H"],
     ["PT0S", "PT0.5S", "-PT1H", "P366D", "P999999999D", 1e308, 2**63, "NaN"]),
]

TEXTS: list[tuple[str, Callable[[Any], object], list[Any], list[Any]]] = [
    ("account_id", lambda v: store(account_id=v), ["x" * 200], [LONG, "x" * 201, ""]),
    ("marketplace_id", lambda v: store(marketplace_id=v), ["x" * 200], [LONG, ""]),
    ("seller_id", lambda v: store(seller_id=v), ["x" * 200], [LONG, ""]),
    ("price_source_attribute", lambda v: store(price_source_attribute=v), ["x" * 255], [LONG, "x" * 256, ""]),
    ("map_attribute", lambda v: store(map_attribute=v), ["x" * 255, ""], [LONG]),
    ("msrp_attribute", lambda v: store(msrp_attribute=v), ["x" * 255], [LONG]),
    ("marketplace_currency", lambda v: store(marketplace_currency=v), ["JPY"], [LONG, "usd", "USDX"]),
    ("code", lambda v: Website(code=v, sort_order=1), ["x" * 255], [LONG, ""]),
    ("name", lambda v: rule(name=v), ["x" * 200], [LONG, ""]),
    ("description", lambda v: rule(description=v), ["x" * 2000], [LONG]),
    ("source_attribute", lambda v: PriceBound(source_attribute=v), ["x" * 255], [LONG, ""]),
    ("name", lambda v: RuleSpec(name=v, action=standard("decrease", "fixed")("1")), ["x" * 200], [LONG]),
    ("account_id", lambda v: RuleSpec(account_id=v, action=standard("decrease", "fixed")("1")), ["x" * 200],
     [LONG, ""]),
    ("marketplace_id", lambda v: RuleSpec(marketplace_id=v, action=standard("decrease", "fixed")("1")),
     ["x" * 200], [LONG]),
    ("from_currency", lambda v: CurrencyRate(from_currency=v, to_currency="CAD", rate="1.3"), ["EUR"],
     [LONG, "eur", "EURO"]),
    ("to_currency", lambda v: CurrencyRate(from_currency="USD", to_currency=v, rate="1.3"), ["EUR"], [LONG, ""]),
]


def websites(count: int) -> list[dict[str, Any]]:
    return [{"code": f"site{i}", "sort_order": i} for i in range(count)]


def tiers(count: int) -> list[dict[str, Any]]:
    return [{"min_quantity": 2 + i, "discount_percent": 1 + i} for i in range(count)]


LISTS: list[tuple[str, Callable[[Any], object], list[Any], list[Any]]] = [
    ("websites", lambda v: settings(websites=websites(v)), [100], [101, 10_000]),
    ("business_tiers", lambda v: settings(business_tiers=tiers(v)), [5], [6]),
    ("conditions", lambda v: rule(conditions=lines(v)), [1000], [1001]),
    ("conditions", lambda v: rule(conditions=Combination(conditions=[lines(500), lines(v)])), [498], [499]),
    ("conditions", lambda v: rule(conditions=lines(1, ["1"] * v)), [10_000], [10_001]),
    ("conditions", lambda v: rule(conditions=lines(1, "1" * v)), [65_535], [65_536]),
    ("conditions", lambda v: rule(conditions=Combination(conditions=[
        AttributeCondition(attribute=v, operator="==", value="1")])), ["x" * 255], [LONG]),
]

CASES = [
    pytest.param(field, build, inside, beyond, id=f"{kind}-{field}-{index}")
    for kind, table in (("decimal", DECIMALS), ("integer", INTEGERS), ("window", WINDOWS), ("text", TEXTS),
                        ("list", LISTS))
    for index, (field, build, inside, beyond) in enumerate(table)
]


@pytest.mark.parametrize(("field", "build", "inside", "beyond"), CASES)
def test_a_value_just_inside_its_bound_is_accepted_and_one_beyond_is_refused_naming_the_field(
    field: str, build: Callable[[Any], object], inside: list[Any], beyond: list[Any],
) -> None:
    for value in inside:
        build(value)
    for value in beyond:
        assert_refused(build, value, field)


def test_nested_guard_errors_locate_the_field_under_guards() -> None:
    with pytest.raises(ValidationError) as error:
        guards(max_step_percent="1e308")
    assert error.value.errors()[0]["loc"] == ("guards", "max_step_percent")


def test_a_rate_and_its_inverse_both_stay_within_the_bounds() -> None:
    smallest, largest = rate("0.000001").rate, rate("1000000").rate
    assert 1 / smallest == largest


def test_accepted_decimals_are_decimals_and_dump_as_text_never_floats() -> None:
    spec = store(vat_percent=10.2, guards={"max_step_percent": 12.5}).model_dump(mode="json")
    assert spec["vat_percent"] == "10.2" and spec["guards"]["max_step_percent"] == "12.5"
    assert rate(1.365).model_dump(mode="json")["rate"] == "1.365"
