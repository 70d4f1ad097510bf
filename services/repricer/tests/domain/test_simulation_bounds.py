"""The POST /simulate request is bounded like the configuration: product prices, offers, the live
price, rates, the evaluation time and every list; a value beyond is refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from repricer.simulate import SimulationRequest, simulate

LONG = "x" * 10_000
HUGE_TEXT = "1" + "0" * 308
SETTINGS = {"account_id": "acct-1", "marketplace_id": "ATVPDKIKX0DER", "marketplace_currency": "USD",
            "seller_id": "OURSELLER"}


def usd(amount: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def offer(price: Any = "10", shipping: Any = "0", **fields: Any) -> dict[str, Any]:
    return {"seller_id": "RIVAL", "is_ours": False, "condition": "new", "fulfillment_channel": "Merchant",
            "listing_price": usd(price), "shipping": usd(shipping), "is_buy_box_winner": True, **fields}


def rule(name: str = "r") -> dict[str, Any]:
    return {"name": name, "priority": 1, "action": {"type": "standard", "direction": "decrease",
                                                   "apply_as": "fixed", "amount": "1"}}


def request(**fields: Any) -> dict[str, Any]:
    product = {"sku": "SKU-1", "currency": "USD", "prices": {"price": "100", "cost": "50"}}
    return {"product": product, "settings": SETTINGS, **fields}


def product(**fields: Any) -> dict[str, Any]:
    return request(product={"sku": "SKU-1", "currency": "USD", "prices": {"price": "100"}, **fields})


def loc_of_refusal(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as error:
        SimulationRequest.model_validate(body)
    return [".".join(map(str, e["loc"])) for e in error.value.errors()]


# (body with the value in place, the location its refusal names)
INSIDE = [
    product(prices={"price": "1000000000", "cost": "0.000001"}),
    product(website_prices={"site1": {"price": "1000000000"}}),
    product(sku="x" * 200),
    product(attributes={f"a{i}": "1" for i in range(10_000)}),
    product(prices={"price": "1", **{f"p{i}": "1" for i in range(9_999)}}),
    request(offers=[offer("1000000000", "1000000000", feedback_count=2**31 - 1, seller_id="x" * 200)]),
    request(offers=[offer()] * 200),
    request(live_price=usd("1000000000")),
    request(live_price=usd("0.000001")),
    request(rates={"USD/CAD": "1000000", "CAD/USD": "0.000001"}),
    request(rates={f"A{chr(65 + i // 26)}{chr(65 + i % 26)}/USD": "1" for i in range(200)}),
    request(rules=[rule(f"r{i}") for i in range(200)]),
    request(rules=[rule("x" * 200)]),
    request(at="1970-01-01T00:00:00Z"),
    request(at="2999-12-31T00:00:00Z"),
]

BEYOND = [
    *[(product(prices={"price": "100", "cost": value}), "product.prices.cost")
      for value in ["1e308", 1e308, "1000000000.5", "-1", "NaN", "Infinity", float("nan"), 2**63, "0.0000001"]],
    (product(website_prices={"site1": {"price": "1e308"}}), "product.website_prices.site1.price"),
    (product(website_prices={f"s{i}": {"price": "1"} for i in range(101)}), "product.website_prices"),
    (product(sku=LONG), "product.sku"),
    (product(prices={"price": "1", LONG: "1"}), f"product.prices.{LONG}.[key]"),
    (product(attributes={f"a{i}": "1" for i in range(10_001)}), "product.attributes"),
    (product(currency="usd"), "product.currency"),
    *[(request(offers=[offer(value)]), "offers.0.listing_price.amount")
      for value in [HUGE_TEXT, "1e308", 1e308, "-1", "NaN", "Infinity", "1000000000.000001"]],
    (request(offers=[offer(shipping=HUGE_TEXT)]), "offers.0.shipping.amount"),
    (request(offers=[offer(seller_id=LONG)]), "offers.0.seller_id"),
    (request(offers=[offer(condition=LONG)]), "offers.0.condition"),
    (request(offers=[offer(feedback_count=2**63)]), "offers.0.feedback_count"),
    (request(offers=[offer()] * 201), "offers"),
    *[(request(live_price=usd(value)), "live_price.amount") for value in [HUGE_TEXT, "-1", "NaN", "0.0000001"]],
    *[(request(rates={"USD/CAD": value}), "rates.USD/CAD")
      for value in ["1e308", 1e308, "0", "-1", "NaN", "Infinity", "1.12345678901", 2**63]],
    (request(rates={"usd/cad": "1.3"}), "rates.usd/cad.[key]"),
    (request(rates={LONG: "1.3"}), f"rates.{LONG}.[key]"),
    (request(rates={f"A{chr(65 + i // 26)}{chr(65 + i % 26)}/USD": "1" for i in range(201)}), "rates"),
    (request(rules=[rule(f"r{i}") for i in range(201)]), "rules"),
    (request(rules=[rule(LONG)]), "rules.0.name"),
    (request(at="0001-01-01T00:00:00Z"), "at"),
    (request(at="9999-12-31T23:59:59Z"), "at"),
    (request(settings={**SETTINGS, "seller_id": LONG}), "settings.seller_id"),
]


@pytest.mark.parametrize("body", INSIDE)
def test_values_just_inside_the_bounds_are_accepted_and_priced(body: dict[str, Any]) -> None:
    assert simulate(SimulationRequest.model_validate(body)).price.amount >= 0


@pytest.mark.parametrize(("body", "field"), BEYOND)
def test_values_beyond_the_bounds_are_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    assert field in loc_of_refusal(body)


def test_the_live_price_reaches_the_decision_as_plain_money() -> None:
    decision = simulate(SimulationRequest.model_validate(request(live_price=usd("100"))))
    assert type(decision.previous_price).__name__ == "Money"
    assert decision.model_dump(mode="json")["previous_price"] == usd("100")
