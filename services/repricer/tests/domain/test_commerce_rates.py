"""Commerce's currency rates under the configured ones: Commerce fills in what is not configured, a configured
pair (in either direction) is the configured rate alone, the later Commerce observation wins a disagreement."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from repricer_pricing_builders import price_of, settings

from repricer.config import CurrencyRate, PricingConfig
from repricer.domain import MissingCurrencyRate
from repricer.domain.amounts import MAX_RATE, MIN_RATE
from repricer.domain.currency import CommerceRates, rate_between, with_commerce_rates

USD = CommerceRates("USD", {"USD": Decimal(1), "CAD": Decimal("1.37"), "EUR": Decimal("0.92")})


def test_commerce_rates_convert_from_the_base_and_back() -> None:
    rates = with_commerce_rates({}, [USD])
    assert rates == {"USD/CAD": Decimal("1.37"), "USD/EUR": Decimal("0.92")}
    assert rate_between(rates, "USD", "CAD") == Decimal("1.37")
    assert rate_between(rates, "EUR", "USD") == Decimal(1) / Decimal("0.92")
    with pytest.raises(MissingCurrencyRate):
        rate_between(rates, "EUR", "CAD")  # no cross rates are made up


@pytest.mark.parametrize("pair", ["USD/CAD", "CAD/USD"])
def test_a_configured_pair_overrides_commerce_in_either_direction(pair: str) -> None:
    rates = with_commerce_rates({pair: Decimal("1.5")}, [USD])
    assert rates[pair] == Decimal("1.5") and len([p for p in rates if set(p.split("/")) == {"USD", "CAD"}]) == 1
    assert rates["USD/EUR"] == Decimal("0.92")


def test_the_later_installation_wins_a_pair_whichever_its_base() -> None:
    eur = CommerceRates("EUR", {"EUR": Decimal(1), "USD": Decimal("1.10")})
    assert rate_between(with_commerce_rates({}, [USD, eur]), "EUR", "USD") == Decimal("1.10")
    assert rate_between(with_commerce_rates({}, [eur, USD]), "USD", "EUR") == Decimal("0.92")


def test_rates_a_configured_one_could_not_be_are_left_out() -> None:
    odd = CommerceRates("USD", {"VES": MAX_RATE * 10, "BTC": MIN_RATE / 10, "XXX": Decimal(0), "CAD": Decimal("-1")})
    assert with_commerce_rates({}, [odd]) == {}


def test_the_loaded_configuration_prices_with_commerce_rates_under_the_configured() -> None:
    store = settings(marketplace_currency="CAD", currency_conversion_enabled=True)
    from_commerce = PricingConfig.of({}, {}, {}, [USD])
    assert price_of({"price": "30"}, store=store, rates=from_commerce.rates).price.amount == Decimal("41.10")
    configured = PricingConfig.of({}, {}, {"cad": CurrencyRate(from_currency="CAD", to_currency="USD",
                                                                rate=Decimal("0.8"))}, [USD])
    assert price_of({"price": "30"}, store=store, rates=configured.rates).price.amount == Decimal("37.50")


codes = st.sampled_from(["USD", "EUR", "GBP", "CAD", "JPY", "MXN"])
rate = st.decimals(min_value=MIN_RATE, max_value=Decimal(1000), places=6)


@given(st.dictionaries(st.tuples(codes, codes).filter(lambda p: p[0] != p[1]), rate, max_size=4),
       st.lists(st.tuples(codes, st.dictionaries(codes, rate, max_size=5)), max_size=3))
def test_every_configured_pair_converts_at_its_configured_rate(
        configured_pairs: dict[tuple[str, str], Decimal], observed: list[tuple[str, dict[str, Decimal]]]) -> None:
    configured = {}
    for (a, b), r in configured_pairs.items():
        if f"{b}/{a}" not in configured:  # one rate per pair, as the configuration demands
            configured[f"{a}/{b}"] = r
    merged = with_commerce_rates(configured, [CommerceRates(base, rates) for base, rates in observed])
    for pair in configured:
        a, b = pair.split("/")
        assert rate_between(merged, a, b) == rate_between(configured, a, b)
        assert rate_between(merged, b, a) == rate_between(configured, b, a)
    for p in merged:  # one direction per pair at most, so rate_between never picks between two
        a, b = p.split("/")
        assert f"{b}/{a}" not in merged
