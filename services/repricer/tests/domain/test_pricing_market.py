"""Competitor choice: conditions, fallback order, Buy Box, own offers, reasons."""

from __future__ import annotations

import pytest
from repricer_pricing_builders import OUR_SELLER, intelligent, market, offer, ours, price_of, usd

from contracts.events import OfferPriceObserved
from contracts.money import Money
from repricer.domain import ItemCondition, MarketSnapshot, PricingError, choose_competitor
from repricer.domain.item_condition import fallback_walk, offer_condition

C = ItemCondition


@pytest.mark.parametrize(
    ("condition", "sub", "expected"),
    [
        ("new", "new", C.NEW),
        ("New", None, C.NEW),
        ("used", "very_good", C.USED_VERY_GOOD),
        ("Used", "Very Good", C.USED_VERY_GOOD),
        ("used", "mint", C.USED_LIKE_NEW),
        ("used", None, C.USED_ACCEPTABLE),
        ("collectible", "good", C.COLLECTIBLE_GOOD),
        ("refurbished", "refurbished", C.REFURBISHED),
        ("used_good", None, C.USED_GOOD),
        ("club", "club", C.CLUB),
        ("pristine", None, None),
    ],
)
def test_offer_conditions_map_to_listing_conditions(condition: str, sub: str | None, expected: C | None) -> None:
    assert offer_condition(condition, sub) is expected


def test_fallback_walk_tries_our_family_first_then_new_downwards() -> None:
    walk = fallback_walk(C.USED_ACCEPTABLE)
    assert walk[0] == [C.USED_LIKE_NEW, C.USED_VERY_GOOD, C.USED_GOOD]
    assert walk[1:4] == [[C.NEW], [C.REFURBISHED], [C.COLLECTIBLE_LIKE_NEW]]
    assert fallback_walk(C.NEW)[0] == [C.REFURBISHED]
    assert all(C.USED_ACCEPTABLE not in group for group in walk)


def test_the_lowest_in_the_first_condition_with_offers_not_the_lowest_overall() -> None:
    rule = intelligent(source="lowest")
    snapshot = market(offer("30", seller="N"), offer("12", seller="R", condition="refurbished", sub="refurbished"))
    decision = price_of({"price": "1"}, [rule], listing=ours(C.USED_GOOD), snapshot=snapshot)
    assert decision.competitor.seller_id == "N" and decision.price == usd("30")


def test_buy_box_prefers_a_winner_in_our_condition() -> None:
    rule = intelligent()
    snapshot = market(offer("30", seller="NEWBB", buy_box=True),
                      offer("18", seller="USEDBB", buy_box=True, condition="used", sub="good"))
    decision = price_of({"price": "1"}, [rule], listing=ours(C.USED_GOOD), snapshot=snapshot)
    assert decision.competitor.seller_id == "USEDBB"


def test_the_competitor_reason_says_what_was_used_and_why() -> None:
    decision = price_of({"price": "1"}, [intelligent(source="lowest")],
                        snapshot=market(offer("20", seller="S9", shipping="2.50")))
    reason = decision.competitor.reason
    assert "lowest price in our condition" in reason and "S9" in reason and "20 + 2.50 shipping" in reason
    assert decision.competitor.price == usd("22.50")


def test_equal_prices_break_ties_by_seller_id() -> None:
    snapshot = market(offer("20", seller="B"), offer("20", seller="A"))
    competitor = choose_competitor(snapshot, intelligent(source="lowest").action, ours(), "USD", True)
    assert competitor.seller_id == "A"


def test_a_snapshot_from_the_event_keeps_its_offers() -> None:
    event = OfferPriceObserved.new(producer="amazon-gateway", marketplace_id="ATVPDKIKX0DER", asin="B000TEST",
                                   observed_at=market().observed_at, offers=[offer("20")])
    assert MarketSnapshot.from_event(event).offers == [offer("20")]


def test_only_our_own_offers_means_no_competitor() -> None:
    snapshot = market(offer("9", ours=True, buy_box=True), offer("8", seller=OUR_SELLER))
    competitor = choose_competitor(snapshot, intelligent(source="lowest").action, ours(), "USD", True)
    assert competitor.price is None and competitor.seller_id is None


def test_an_override_in_another_currency_is_refused() -> None:
    with pytest.raises(PricingError):
        price_of({"price": "10"}, price_override=Money(amount="9", currency="EUR"))


def test_buy_box_in_another_condition_is_scaled_by_the_variance() -> None:
    rule = intelligent(variance_mode="apply_variance", condition_variances={"used_good": "80"})
    decision = price_of({"price": "1"}, [rule], listing=ours(C.USED_GOOD),
                        snapshot=market(offer("7.99", buy_box=True)))
    assert decision.price == usd("6.39")


def test_among_buy_box_winners_in_other_conditions_the_lowest_is_used() -> None:
    snapshot = market(offer("30", seller="A", buy_box=True),
                      offer("25", seller="B", buy_box=True, condition="used", sub="good"))
    decision = price_of({"price": "1"}, [intelligent()], listing=ours(C.REFURBISHED), snapshot=snapshot)
    assert decision.competitor.seller_id == "B"
