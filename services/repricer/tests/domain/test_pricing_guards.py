"""Guards on the final price: band, max step, price war, minimum change, non-positive prices."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from repricer_pricing_builders import (
    NO_GUARDS,
    NOW,
    intelligent,
    market,
    offer,
    price_of,
    settings,
    standard,
    usd,
)

from repricer.domain import PriceBound, PriceChange, PriceGuards, PriceHistory

UNDERCUT = intelligent(source="lowest", adjustment="decrease", apply_as="fixed", amount="0.01",
                       floor=PriceBound(source_attribute="cost", action="match"))


def live(amount: str) -> PriceHistory:
    return PriceHistory(live_price=usd(amount))


def cuts(seller: str, *prices: str, minutes_apart: int = 10) -> list[PriceChange]:
    changes = []
    for index, (old, new) in enumerate(pairwise(prices)):
        at = NOW - timedelta(minutes=minutes_apart * (len(prices) - 1 - index))
        changes.append(PriceChange(at=at, old_price=usd(old), new_price=usd(new), competitor_seller_id=seller))
    return changes


def test_first_decision_without_history_is_sent() -> None:
    decision = price_of({"price": "10"})
    assert decision.send and decision.held is None and decision.previous_price is None


def test_min_change_no_send_when_nothing_changed() -> None:
    decision = price_of({"price": "10"}, history=live("10.00"))
    assert not decision.send and decision.price == usd("10.00")
    assert decision.previous_price == usd("10.00")


def test_min_change_below_the_minimum_is_not_sent() -> None:
    store = settings(guards=PriceGuards(min_change_amount="0.50"))
    decision = price_of({"price": "10.30"}, store=store, history=live("10.00"))
    assert not decision.send and "below the minimum" in decision.trace[-1].detail
    assert price_of({"price": "10.50"}, store=store, history=live("10.00")).send


def test_min_change_switched_off_still_sends_nothing_for_an_identical_price() -> None:
    store = settings(guards=NO_GUARDS)
    assert price_of({"price": "10.01"}, store=store, history=live("10.00")).send
    assert not price_of({"price": "10.00"}, store=store, history=live("10.00")).send


def test_max_step_limits_a_fall_to_20_percent_of_the_live_price() -> None:
    decision = price_of({"price": "1", "cost": "0.5"}, [UNDERCUT], snapshot=market(offer("50")), history=live("100"))
    assert decision.price == usd("80.00") and decision.send
    assert "max step" in decision.trace[-1].detail


def test_max_step_limits_a_rise_and_can_be_switched_off() -> None:
    assert price_of({"price": "200"}, history=live("100")).price == usd("120.00")
    store = settings(guards=PriceGuards(limit_step=False))
    assert price_of({"price": "200"}, store=store, history=live("100")).price == usd("200")


def test_the_1p_incident_cannot_happen_in_one_step() -> None:
    rule = intelligent(source="lowest", floor=PriceBound(source_attribute="cost", action="match"))
    decision = price_of({"price": "50", "cost": "0"}, [rule], snapshot=market(offer("0.01")), history=live("54.99"))
    assert decision.price == usd("43.99")


def test_price_war_holds_the_price_after_three_cuts_against_one_competitor_within_the_hour() -> None:
    history = PriceHistory(changes=cuts("RIVAL", "20.00", "19.99", "19.98", "19.97"))
    decision = price_of({"price": "25", "cost": "5"}, [UNDERCUT], history=history,
                        snapshot=market(offer("19.96", seller="RIVAL")))
    assert decision.price == usd("19.97") and not decision.send
    assert decision.held and "price war with seller RIVAL" in decision.held


def test_two_cuts_are_not_yet_a_war() -> None:
    history = PriceHistory(changes=cuts("RIVAL", "20.00", "19.99", "19.98"))
    decision = price_of({"price": "25", "cost": "5"}, [UNDERCUT], history=history,
                        snapshot=market(offer("19.97", seller="RIVAL")))
    assert decision.price == usd("19.96") and decision.send and decision.held is None


def test_cuts_outside_the_window_or_against_others_do_not_count() -> None:
    old = cuts("RIVAL", "20.00", "19.99", "19.98", "19.97", minutes_apart=40)
    decision = price_of({"price": "25", "cost": "5"}, [UNDERCUT], history=PriceHistory(changes=old),
                        snapshot=market(offer("19.96", seller="RIVAL")))
    assert decision.held is None
    others = cuts("OTHER", "20.00", "19.99", "19.98", "19.97")
    decision = price_of({"price": "25", "cost": "5"}, [UNDERCUT], history=PriceHistory(changes=others),
                        snapshot=market(offer("19.96", seller="RIVAL")))
    assert decision.held is None and decision.price == usd("19.95")


def test_a_price_war_does_not_hold_a_rise() -> None:
    history = PriceHistory(changes=cuts("RIVAL", "20.00", "19.99", "19.98", "19.97"))
    decision = price_of({"price": "25", "cost": "5"}, [UNDERCUT], history=history,
                        snapshot=market(offer("21.00", seller="RIVAL")))
    assert decision.price == usd("20.99") and decision.send and decision.held is None


def test_price_war_detection_can_be_switched_off() -> None:
    history = PriceHistory(changes=cuts("RIVAL", "20.00", "19.99", "19.98", "19.97"))
    decision = price_of({"price": "25", "cost": "5"}, [UNDERCUT], history=history,
                        store=settings(guards=PriceGuards(detect_price_war=False)),
                        snapshot=market(offer("19.96", seller="RIVAL")))
    assert decision.price == usd("19.95") and decision.send


def test_the_band_wins_over_a_later_standard_rule() -> None:
    rules = [intelligent(priority=1, ceiling=PriceBound(source_attribute="msrp")),
             standard("minus 50", "decrease", "percent", "50", priority=2)]
    decision = price_of({"price": "10", "msrp": "30"}, rules, snapshot=market(offer("20", buy_box=True)))
    assert decision.price == usd("10")
    assert decision.floor == usd("10") and decision.ceiling == usd("30")


def test_the_band_wins_over_map() -> None:
    rules = [intelligent(ceiling=PriceBound(source_attribute="msrp"))]
    decision = price_of({"price": "10", "msrp": "30", "map": "40"}, rules,
                        store=settings(map_attribute="map"), snapshot=market(offer("20", buy_box=True)))
    assert decision.price == usd("30")


def test_the_live_price_defaults_to_the_newest_change() -> None:
    changes = [PriceChange(at=NOW - timedelta(hours=2), old_price=None, new_price=usd("9")),
               PriceChange(at=NOW - timedelta(hours=1), old_price=usd("9"), new_price=usd("10"))]
    decision = price_of({"price": "10"}, history=PriceHistory(changes=list(reversed(changes))))
    assert decision.previous_price == usd("10") and not decision.send


def test_a_price_override_bypasses_rules_floor_and_ceiling() -> None:
    rules = [standard("minus 20", "decrease", "percent", "20", priority=1)]
    assert price_of({"price": "100"}, rules).price == usd("80.00")
    decision = price_of({"price": "100"}, rules, price_override=usd("55"))
    assert decision.price == usd("55.00") and decision.trace[0].step == "override"
