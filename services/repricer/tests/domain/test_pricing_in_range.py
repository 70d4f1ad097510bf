"""Whatever the models accept, the engine decides: no arithmetic failure, at most a PricingError.

Accepted rates and amounts never overflow conversion; a simulation of values at their bounds is
decided; rules compounding past any price, an absurd attribute read as a price or an absurd
competitor price (events are not bounded like the configuration) end in PriceOutOfRange.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from repricer_pricing_builders import intelligent, market, offer, price_of, standard, usd
from repricer_pricing_builders import settings as store_settings

from repricer.config import CurrencyRate
from repricer.domain import PriceOutOfRange, PricingError
from repricer.domain.amounts import MAX_AMOUNT, Amount, rounded
from repricer.domain.currency import MarketplaceTerms
from repricer.simulate import SimulationRequest, simulate

fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

anything_numeric = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["1e308", "-1e308", "1E-400", "NaN", "sNaN", "Infinity", "0.0000001", "1000000.0000000001"]),
    st.text(max_size=20),
)
money_edges = ["0", "0.000001", "0.01", "1", "999999999.999999", "1000000000"]
rate_edges = ["0.000001", "0.0000012345", "1", "1.3650", "999999.9999999999", "1000000"]
currencies = st.sampled_from(["USD", "JPY", "KWD", "EUR"])
amount_model = TypeAdapter(Amount)


def accepted_amount(value: Any) -> Decimal | None:
    try:
        return amount_model.validate_python(value)
    except ValidationError:
        return None


def accepted_rate(value: Any) -> Decimal | None:
    try:
        return CurrencyRate(from_currency="USD", to_currency="CAD", rate=value).rate
    except ValidationError:
        return None


def terms(rate: Decimal, inverse: bool, vat: str) -> MarketplaceTerms:
    store = store_settings(marketplace_currency="CAD", currency_conversion_enabled=True, vat_enabled=True,
                           vat_percent=vat)
    return MarketplaceTerms.of(store, "USD", {"CAD/USD" if inverse else "USD/CAD": rate})


@fast
@given(anything_numeric, anything_numeric, st.booleans(), st.sampled_from(["0", "20", "100"]))
def test_any_rate_and_amount_the_models_accept_convert_without_overflow(
    rate_input: Any, amount_input: Any, inverse: bool, vat: str,
) -> None:
    rate, amount = accepted_rate(rate_input), accepted_amount(amount_input)
    for value in (rate, amount):
        assert value is None or value.is_finite()
    rate = rate if rate is not None else Decimal(1)
    for value in (amount, Decimal(MAX_AMOUNT)):
        if value is not None:
            assert terms(rate, inverse, vat).of_commerce(value) >= 0


@fast
@given(st.sampled_from(rate_edges), st.booleans(), st.sampled_from(money_edges), st.sampled_from(["0", "100"]))
def test_rates_and_amounts_at_their_bounds_convert(rate: str, inverse: bool, amount: str, vat: str) -> None:
    converted = terms(accepted_rate(rate), inverse, vat).of_commerce(accepted_amount(amount))
    assert 0 <= converted <= Decimal(MAX_AMOUNT) * 1_000_000 * 2


# ---------------------------------------------------------------- a simulation of values at their bounds

money = st.one_of(st.sampled_from(money_edges), st.decimals(min_value=0, max_value=MAX_AMOUNT, places=6).map(str))
share = st.one_of(st.sampled_from(["0", "0.000001", "99.999999", "100"]),
                  st.decimals(min_value=0, max_value=100, places=6).map(str))
percent = st.one_of(st.sampled_from(["0", "100", "999.999999", "1000"]),
                    st.decimals(min_value=0, max_value=1000, places=6).map(str))
rates = st.one_of(st.sampled_from(rate_edges),
                  st.decimals(min_value=Decimal("0.000001"), max_value=1_000_000, places=10).map(str))


@st.composite
def adjustments(draw: st.DrawFn, key: str) -> dict[str, Any]:
    direction = draw(st.sampled_from(["increase", "decrease"]))
    apply_as = draw(st.sampled_from(["percent", "fixed"]))
    if apply_as == "fixed":
        value = draw(money)
    else:
        value = draw(percent if direction == "increase" else share)
    return {key: direction, "apply_as": apply_as, "amount": value}


@st.composite
def bound(draw: st.DrawFn, attribute: str) -> dict[str, Any]:
    action = draw(st.sampled_from(["match", "increase", "decrease"]))
    value = draw(percent if action == "increase" else share)
    return {"source_attribute": attribute, "action": action, "percent": value}


@st.composite
def rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    if draw(st.booleans()):
        action = {"type": "standard", **draw(adjustments("direction"))}
    else:
        adjustment = draw(st.one_of(st.just({"adjustment": "match"}), adjustments("adjustment")))
        variances = {"used_good": draw(st.sampled_from(["1", "100"])),
                     "collectible_like_new": draw(st.sampled_from(["1", "1000"]))}
        action = {"type": "intelligent", "competitor_source": draw(st.sampled_from(["buy_box", "lowest"])),
                  "variance_mode": draw(st.sampled_from(["all", "matching_only", "apply_variance"])),
                  "condition_variances": variances, **adjustment,
                  "floor": draw(bound("cost")), "ceiling": draw(st.one_of(st.none(), bound("msrp")))}
    return {"name": f"rule {index}", "priority": index + 1, "action": action}


def steep(index: int) -> dict[str, Any]:
    action = {"type": "standard", "direction": "increase", "apply_as": "percent", "amount": "1000"}
    return {"name": f"steep {index}", "priority": index + 1, "action": action}


@st.composite
def offers(draw: st.DrawFn, currency: str) -> dict[str, Any]:
    condition, sub = draw(st.sampled_from([("new", "new"), ("used", "good"), ("collectible", "like_new")]))
    return {"seller_id": draw(st.sampled_from(["S1", "S2"])), "is_ours": False, "condition": condition,
            "sub_condition": sub, "fulfillment_channel": "Merchant",
            "listing_price": {"amount": draw(money), "currency": currency},
            "shipping": {"amount": draw(money), "currency": currency},
            "feedback_rating": 99, "feedback_count": 2**31 - 1, "is_buy_box_winner": draw(st.booleans())}


@st.composite
def simulations(draw: st.DrawFn, max_rules: int, max_steep: int = 0) -> dict[str, Any]:
    """Values at their bounds; up to `max_rules` drawn rules, then up to `max_steep` rules of +1000 %."""
    commerce, marketplace = draw(currencies), draw(currencies)
    pair = f"{commerce}/{marketplace}" if draw(st.booleans()) else f"{marketplace}/{commerce}"
    tiers = sorted(draw(st.lists(share.filter(lambda s: 0 < Decimal(s) < 100), max_size=5)), key=Decimal)
    guards = {"max_step_percent": draw(percent.filter(lambda p: Decimal(p) > 0)), "min_change_amount": draw(money),
              "price_war_undercuts": draw(st.sampled_from([1, 2**31 - 1])),
              "price_war_window": draw(st.sampled_from(["PT1S", "P365D"])),
              **{flag: draw(st.booleans()) for flag in ("enforce_band", "limit_step", "detect_price_war")}}
    settings_ = {"account_id": "acct-1", "marketplace_id": "M1", "marketplace_currency": marketplace,
                 "seller_id": "OURS", "map_attribute": "map", "msrp_attribute": "msrp",
                 "vat_enabled": draw(st.booleans()), "vat_percent": draw(share),
                 "currency_conversion_enabled": draw(st.booleans()),
                 "business_pricing_enabled": True, "tiered_pricing_enabled": True,
                 "business_tiers": [{"min_quantity": 2 + i, "discount_percent": d} for i, d in enumerate(tiers)],
                 "guards": guards}
    count, steep_count = draw(st.integers(0, max_rules)), draw(st.integers(0, max_steep))
    return {
        "product": {"sku": "SKU-1", "currency": commerce,
                    "prices": {name: draw(money) for name in ("price", "cost", "msrp", "map")}},
        "settings": settings_,
        "rules": [*(draw(rules(i)) for i in range(count)), *(steep(count + i) for i in range(steep_count))],
        "offers": draw(st.lists(offers(marketplace), max_size=4)),
        "condition": draw(st.sampled_from(["new_new", "used_good", "collectible_like_new"])),
        "live_price": draw(st.one_of(st.none(), money.map(lambda a: {"amount": a, "currency": marketplace}))),
        "rates": {pair: draw(rates)},
        "at": draw(st.sampled_from(["1970-01-01T00:00:00Z", "2024-06-15T12:00:00Z", "2999-12-31T00:00:00Z"])),
    }


@fast
@given(simulations(max_rules=2))
def test_a_simulation_of_values_at_their_bounds_is_accepted_and_decided(body: dict[str, Any]) -> None:
    decision = simulate(SimulationRequest.model_validate(body))
    assert decision.price.amount.is_finite()
    assert decision.model_dump(mode="json")["price"]["amount"] == format(decision.price.amount, "f")


@fast
@given(simulations(max_rules=2, max_steep=14))
def test_many_rules_compounding_past_any_price_are_a_pricing_error_never_a_crash(body: dict[str, Any]) -> None:
    request = SimulationRequest.model_validate(body)
    try:
        simulate(request)
    except PriceOutOfRange:
        pass


def test_two_rules_at_their_bounds_with_the_largest_rate_and_vat_are_decided() -> None:
    rules = [standard(f"plus 1000 % #{i}", "increase", "percent", "1000", priority=i + 1) for i in range(2)]
    store = store_settings(marketplace_currency="CAD", currency_conversion_enabled=True, vat_enabled=True,
                           vat_percent="100")
    decision = price_of({"price": "1000000000"}, rules, store=store, rates={"USD/CAD": Decimal(1_000_000)})
    assert decision.price.amount == Decimal(MAX_AMOUNT) * 11 * 11 * 1_000_000 * 2


# ---------------------------------------------------------------- out of range is a PricingError

def test_rules_compounding_past_any_price_end_in_price_out_of_range() -> None:
    rules = [standard(f"plus 1000 % #{i}", "increase", "percent", "1000", priority=i + 1) for i in range(12)]
    with pytest.raises(PriceOutOfRange, match="beyond any price") as error:
        price_of({"price": "1000000000"}, rules)
    assert isinstance(error.value, PricingError) and error.value.field == "rules"


def test_a_product_attribute_above_any_price_is_refused_only_when_read_as_a_price() -> None:
    assert price_of({"price": "10", "ean": "4006381333931"}).price == usd("10")
    with pytest.raises(PriceOutOfRange, match="ean 4006381333931") as error:
        price_of({"price": "10", "ean": "4006381333931"}, store=store_settings(price_source_attribute="ean"))
    assert error.value.field == "product.prices.ean"


def test_an_absurd_competitor_price_from_an_event_is_a_pricing_error() -> None:
    absurd = offer("1" + "0" * 30, buy_box=True)
    with pytest.raises(PriceOutOfRange):
        price_of({"price": "10"}, [intelligent()], snapshot=market(absurd))


@pytest.mark.parametrize("amount", [Decimal("1e19"), Decimal("-1e19"), Decimal("NaN"), Decimal("Infinity")])
def test_rounding_refuses_what_is_no_price(amount: Decimal) -> None:
    with pytest.raises(PriceOutOfRange):
        rounded(amount, "USD")
