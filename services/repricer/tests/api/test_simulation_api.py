"""The acceptance checks of spec sections 10-12, through POST /simulate (JSON in, price and
trace out, nothing changed)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from devstack.testing import auth_headers
from repricer.service import Settings, build

SETTINGS = {"account_id": "acct-1", "marketplace_id": "ATVPDKIKX0DER", "marketplace_currency": "USD",
            "seller_id": "OURSELLER"}


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def offer(price: str, *, seller: str = "COMPETITOR", condition: str = "new", buy_box: bool = False,
          shipping: str = "0.00", ours: bool = False, feedback: int | None = None,
          count: int | None = None) -> dict[str, Any]:
    return {"seller_id": seller, "is_ours": ours, "condition": condition, "fulfillment_channel": "Merchant",
            "listing_price": usd(price), "shipping": usd(shipping), "is_buy_box_winner": buy_box,
            "feedback_rating": feedback, "feedback_count": count}


def standard(name: str, direction: str, apply_as: str, amount: str, priority: int | None = None,
             discard: bool = False, **extra: Any) -> dict[str, Any]:
    return {"name": name, "priority": priority, "discard_subsequent": discard,
            "action": {"type": "standard", "direction": direction, "apply_as": apply_as, "amount": amount}, **extra}


def intelligent(source: str = "buy_box", floor: dict[str, Any] | None = None,
                ceiling: dict[str, Any] | None = None, **action: Any) -> dict[str, Any]:
    return {"name": "reprice", "priority": 1, "action": {
        "type": "intelligent", "competitor_source": source,
        "floor": floor or {"source_attribute": "price", "action": "match"}, "ceiling": ceiling, **action}}


@pytest.fixture(scope="module")
async def client():
    app = build(Settings()).asgi()
    async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(app), base_url="http://repricer") as c:
        yield c


def amount(money: dict[str, str] | None) -> Decimal | None:
    return Decimal(money["amount"]) if money else None


async def price(client: httpx.AsyncClient, prices: dict[str, str], rules: list[dict[str, Any]] = (),
                offers: list[dict[str, Any]] | None = None, settings: dict[str, Any] | None = None,
                websites: dict[str, dict[str, str]] | None = None, attributes: dict[str, Any] | None = None,
                **extra: Any) -> dict[str, Any]:
    body = {"product": {"sku": "SKU-1", "currency": "USD", "prices": prices, "website_prices": websites or {},
                        "attributes": attributes or {}},
            "settings": {**SETTINGS, **(settings or {})}, "rules": list(rules), "offers": offers,
            "at": "2026-06-15T12:00:00Z", **extra}
    response = await client.post("/simulate", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- §10 listing price settings

async def test_10_1_empty_price_source_falls_back_to_price(client) -> None:
    d = await price(client, {"price": "40"}, settings={"price_source_attribute": "special_price"})
    assert amount(d["price"]) == Decimal("40.00")
    assert d["trace"][0]["step"] == "base_price"


@pytest.mark.parametrize(("map_value", "expected"), [("35", "35.00"), (None, "30.00")])
async def test_10_2_map_is_the_lowest_published_price(client, map_value, expected) -> None:
    prices = {"price": "40", **({"map": map_value} if map_value else {})}
    d = await price(client, prices, [standard("off", "decrease", "fixed", "10")], settings={"map_attribute": "map"})
    assert amount(d["price"]) == Decimal(expected)


@pytest.mark.parametrize(("msrp", "strike"), [("50", "50.00"), ("30", None)])
async def test_10_3_msrp_strike_through_only_above_the_price(client, msrp, strike) -> None:
    d = await price(client, {"price": "40", "msrp": msrp}, settings={"msrp_attribute": "msrp"})
    assert amount(d["strike_through"]) == (Decimal(strike) if strike else None)


async def test_10_4_vat_is_added_after_standard_rules(client) -> None:
    d = await price(client, {"price": "100"}, settings={"vat_enabled": True, "vat_percent": "5"})
    assert amount(d["price"]) == Decimal("105.00")


WEBSITES = {"price_scope": "website", "websites": [{"code": "site1", "sort_order": 1},
                                                    {"code": "site2", "sort_order": 2}]}


async def test_10_5_first_website_with_its_own_value_wins(client) -> None:
    d = await price(client, {"price": "31.99"}, settings=WEBSITES, websites={"site1": {"price": "24.99"}})
    assert amount(d["price"]) == Decimal("24.99")


async def test_10_6_a_website_on_default_is_skipped(client) -> None:
    d = await price(client, {"price": "31.99"}, settings=WEBSITES, websites={"site2": {"price": "27.99"}})
    assert amount(d["price"]) == Decimal("27.99")


async def test_10_7_non_price_source_at_website_scope(client) -> None:
    d = await price(client, {"price": "31.99"}, settings={**WEBSITES, "price_source_attribute": "amazon_price"},
                    websites={"site2": {"amazon_price": "20.00"}})
    assert amount(d["price"]) == Decimal("20.00")


async def test_10_8_business_price_tiers_and_the_one_dollar_minimum(client) -> None:
    b2b = {"business_pricing_enabled": True, "tiered_pricing_enabled": True,
           "business_tiers": [{"min_quantity": 5, "discount_percent": "5"}]}
    d = await price(client, {"price": "100"}, settings=b2b)
    assert amount(d["business_price"]) == Decimal("100")
    assert [(t["min_quantity"], amount(t["price"])) for t in d["tiers"]] == [(5, Decimal("95"))]
    cheap = await price(client, {"price": "0.80"}, settings=b2b)
    assert amount(cheap["business_price"]) == Decimal("1.00")


# ---------------------------------------------------------------- §11 pricing rules

SALE = {"conditions": {"conditions": [{"attribute": "category_ids", "operator": "()", "value": ["sale"]}]}}
STACK = [standard("10 % off sale", "decrease", "percent", "10", 1, False, **SALE),
         standard("$2 off sale", "decrease", "fixed", "2", 2, True, **SALE),
         standard("5 % off all", "decrease", "percent", "5", 3)]


async def test_11_2_rules_stack_in_priority_and_discard_stops(client) -> None:
    sale = await price(client, {"price": "100"}, STACK, attributes={"category_ids": ["sale"]})
    other = await price(client, {"price": "100"}, STACK, attributes={"category_ids": ["other"]})
    assert amount(sale["price"]) == Decimal("88.00")
    assert amount(other["price"]) == Decimal("95.00")
    applied = [s["detail"] for s in sale["trace"] if s["step"] == "rule"]
    assert len(applied) == 2 and "5 % off all" not in " ".join(applied)


@pytest.mark.parametrize("rule", [
    standard("inactive", "decrease", "percent", "10", 1, active=False),
    standard("expired", "decrease", "percent", "10", 1, from_date="2026-01-01", to_date="2026-06-14"),
    standard("not yet", "decrease", "percent", "10", 1, from_date="2026-06-16"),
])
async def test_11_3_inactive_or_out_of_dates_rules_do_nothing(client, rule) -> None:
    assert amount((await price(client, {"price": "100"}, [rule]))["price"]) == Decimal("100")


@pytest.mark.parametrize(("rule", "field"), [
    (standard("no priority", "decrease", "percent", "10", None, True), "priority"),
    (standard("abc", "decrease", "percent", "abc", 1), "amount"),
])
async def test_11_4_invalid_rules_are_refused_naming_the_field(client, rule, field) -> None:
    body = {"product": {"sku": "S", "currency": "USD", "prices": {"price": "10"}}, "settings": SETTINGS,
            "rules": [rule]}
    response = await client.post("/simulate", json=body)
    assert response.status_code == 422
    assert field in response.text


# ---------------------------------------------------------------- §12 intelligent repricing

@pytest.mark.parametrize(("base", "buy_box", "expected"), [("15", "10", "15.00"), ("5", "10", "10.00")])
async def test_12_a_buy_box_match_with_the_price_as_floor(client, base, buy_box, expected) -> None:
    d = await price(client, {"price": base}, [intelligent()], [offer(buy_box, buy_box=True)])
    assert amount(d["price"]) == Decimal(expected)


@pytest.mark.parametrize(("base", "floor", "expected"), [("20", "16.00", "16.00"), ("15", "12.00", "15.00"),
                                                           ("17", "13.60", "15.00")])
async def test_12_b_floor_twenty_percent_under_price(client, base, floor, expected) -> None:
    rule = intelligent(floor={"source_attribute": "price", "action": "decrease", "percent": "20"})
    d = await price(client, {"price": base}, [rule], [offer("15", buy_box=True)])
    assert (amount(d["floor"]), amount(d["price"])) == (Decimal(floor), Decimal(expected))


async def test_12_g_floor_cost_plus_five_percent(client) -> None:
    rule = intelligent("lowest", floor={"source_attribute": "cost", "action": "increase", "percent": "5"})
    d = await price(client, {"price": "9", "cost": "5"}, [rule], [offer("4")])
    assert amount(d["price"]) == Decimal("5.25")


async def test_12_g_ceiling_msrp_plus_ten_percent(client) -> None:
    rule = intelligent("lowest", ceiling={"source_attribute": "msrp", "action": "increase", "percent": "10"})
    d = await price(client, {"price": "30", "msrp": "100"}, [rule], [offer("250")])
    assert amount(d["price"]) == Decimal("110.00")


async def test_12_h_empty_floor_attribute_uses_the_catalog_price(client) -> None:
    rule = intelligent(floor={"source_attribute": "cost", "action": "match"})
    d = await price(client, {"price": "20"}, [rule], [offer("12", buy_box=True)])
    assert amount(d["price"]) == Decimal("20.00")


async def test_12_i_only_matching_condition_without_one_uses_the_price_source(client) -> None:
    rule = intelligent("lowest", variance_mode="matching_only")
    d = await price(client, {"price": "30"}, [rule], [offer("12", condition="new")],
                    condition="refurbished_refurbished")
    assert amount(d["price"]) == Decimal("30.00")


async def test_our_own_offer_is_never_the_competitor(client) -> None:
    rule = intelligent("lowest", floor={"source_attribute": "cost", "action": "match"})
    alone = await price(client, {"price": "30", "cost": "5"}, [rule], [offer("20")])
    with_ours = await price(client, {"price": "30", "cost": "5"}, [rule],
                            [offer("19.99", seller="OURSELLER", ours=True), offer("20")])
    assert amount(alone["price"]) == amount(with_ours["price"]) == Decimal("20")
    assert with_ours["competitor"]["seller_id"] == "COMPETITOR"


async def test_the_trace_names_base_rule_competitor_and_floor(client) -> None:
    d = await price(client, {"price": "20"}, [intelligent(floor={"source_attribute": "price", "action": "decrease",
                                                                 "percent": "20"})], [offer("15", buy_box=True)])
    steps = [s["step"] for s in d["trace"]]
    assert {"base_price", "competitor", "floor"} <= set(steps)
