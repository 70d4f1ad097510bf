"""Properties of decide() over generated products, rules, markets and histories."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from repricer_pricing_builders import NOW, OUR_SELLER, TODAY, offer, ours, price_of, usd
from repricer_pricing_builders import settings as store_settings

from contracts.events import Offer
from repricer.domain import (
    IntelligentAction,
    ItemCondition,
    MarketSnapshot,
    PriceBound,
    PriceHistory,
    PricingRule,
    StandardAction,
)

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)
percents = st.decimals(min_value=Decimal(0), max_value=Decimal(60), places=1)
conditions = st.sampled_from([("new", "new"), ("used", "good"), ("used", "very_good"), ("refurbished", None),
                              ("collectible", "like_new")])
sellers = st.sampled_from(["S1", "S2", "S3", "S4"])
our_conditions = st.sampled_from([ItemCondition.NEW, ItemCondition.USED_GOOD, ItemCondition.REFURBISHED])


@st.composite
def standard_rules(draw: st.DrawFn) -> PricingRule:
    return PricingRule(
        name=f"standard {draw(st.integers(0, 999))}",
        priority=draw(st.integers(1, 6)),
        discard_subsequent=draw(st.booleans()),
        action=StandardAction(direction=draw(st.sampled_from(["increase", "decrease"])),
                              apply_as=draw(st.sampled_from(["percent", "fixed"])), amount=draw(percents)),
    )


@st.composite
def bounds(draw: st.DrawFn, attribute: str) -> PriceBound:
    action = draw(st.sampled_from(["match", "increase", "decrease"]))
    return PriceBound(source_attribute=attribute, action=action, percent=None if action == "match" else draw(percents))


@st.composite
def intelligent_rules(draw: st.DrawFn, with_ceiling: bool | None = None) -> PricingRule:
    adjustment = draw(st.sampled_from(["match", "increase", "decrease"]))
    has_ceiling = draw(st.booleans()) if with_ceiling is None else with_ceiling
    variances = draw(st.one_of(st.none(), st.fixed_dictionaries(
        {"used_good": st.integers(1, 100), "refurbished_refurbished": st.just(90)})))
    optional = {"condition_variances": variances} if variances is not None else {}
    return PricingRule(
        name=f"intelligent {draw(st.integers(0, 999))}",
        priority=draw(st.integers(1, 6)),
        action=IntelligentAction(
            competitor_source=draw(st.sampled_from(["buy_box", "lowest"])),
            min_feedback_percent=draw(st.sampled_from([0, 80, 95])),
            variance_mode=draw(st.sampled_from(["all", "matching_only", "apply_variance"])),
            **optional,
            adjustment=adjustment,
            apply_as=None if adjustment == "match" else draw(st.sampled_from(["percent", "fixed"])),
            amount=None if adjustment == "match" else draw(percents),
            floor=draw(bounds(draw(st.sampled_from(["cost", "price"])))),
            ceiling=draw(bounds("msrp")) if has_ceiling else None,
        ),
    )


@st.composite
def competitor_offers(draw: st.DrawFn) -> Offer:
    condition, sub = draw(conditions)
    return offer(str(draw(amounts)), seller=draw(sellers), condition=condition, sub=sub,
                 shipping=str(draw(st.sampled_from([Decimal(0), Decimal("3.99")]))), buy_box=draw(st.booleans()),
                 rating=draw(st.sampled_from([None, 70, 85, 99])), count=draw(st.sampled_from([None, 10, 5000])))


@st.composite
def own_offers(draw: st.DrawFn) -> Offer:
    flagged = draw(st.booleans())
    condition, sub = draw(conditions)
    return offer(str(draw(amounts)), seller=draw(sellers) if flagged else OUR_SELLER, ours=flagged,
                 condition=condition, sub=sub, buy_box=draw(st.booleans()))


prices = st.fixed_dictionaries({"price": amounts, "cost": amounts, "msrp": amounts})
rule_lists = st.lists(st.one_of(standard_rules(), intelligent_rules()), max_size=4)
snapshots = st.one_of(st.none(), st.lists(competitor_offers(), max_size=5).map(
    lambda offers: MarketSnapshot(offers=offers, observed_at=NOW)))
histories = st.one_of(st.none(), amounts.map(lambda a: PriceHistory(live_price=usd(a))))
vat = st.sampled_from([{}, {"vat_enabled": True, "vat_percent": "20"}])
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(prices, rule_lists, intelligent_rules(with_ceiling=True), snapshots, histories, our_conditions, vat)
def test_the_final_price_stays_within_floor_and_ceiling(
    item: dict[str, Decimal], rules: list[PricingRule], last: PricingRule, snapshot: MarketSnapshot | None,
    history: PriceHistory | None, condition: ItemCondition, vat_settings: dict[str, object],
) -> None:
    last = last.model_copy(update={"priority": 9})
    decision = price_of(item, [*rules, last], store=store_settings(**vat_settings), snapshot=snapshot,
                        history=history, listing=ours(condition))
    assume(decision.floor is not None and decision.ceiling is not None)
    assume(decision.floor.amount <= decision.ceiling.amount)
    assert decision.floor.amount <= decision.price.amount <= decision.ceiling.amount


@fast
@given(prices, rule_lists, st.one_of(standard_rules(), intelligent_rules()), st.integers(0, 4),
       st.sampled_from(["inactive", "ended", "not started"]), snapshots, histories)
def test_an_inactive_or_out_of_date_rule_changes_nothing(
    item: dict[str, Decimal], rules: list[PricingRule], extra: PricingRule, position: int, why: str,
    snapshot: MarketSnapshot | None, history: PriceHistory | None,
) -> None:
    dormant = extra.model_copy(update={
        "inactive": {"active": False},
        "ended": {"from_date": TODAY - timedelta(days=30), "to_date": TODAY - timedelta(days=1)},
        "not started": {"from_date": TODAY + timedelta(days=1)},
    }[why])
    with_dormant = [*rules[:position], dormant, *rules[position:]]
    assert price_of(item, with_dormant, snapshot=snapshot, history=history) == price_of(
        item, rules, snapshot=snapshot, history=history)


@fast
@given(prices, rule_lists, snapshots, histories, our_conditions, vat, st.randoms())
def test_same_inputs_give_the_same_decision_whatever_the_offer_order(
    item: dict[str, Decimal], rules: list[PricingRule], snapshot: MarketSnapshot | None,
    history: PriceHistory | None, condition: ItemCondition, vat_settings: dict[str, object], rng,
) -> None:
    store = store_settings(**vat_settings)
    first = price_of(item, rules, store=store, snapshot=snapshot, history=history, listing=ours(condition))
    assert price_of(item, rules, store=store, snapshot=snapshot, history=history, listing=ours(condition)) == first
    if snapshot is not None:
        shuffled = list(snapshot.offers)
        rng.shuffle(shuffled)
        again = MarketSnapshot(offers=shuffled, observed_at=NOW)
        assert price_of(item, rules, store=store, snapshot=again, history=history, listing=ours(condition)) == first


@fast
@given(prices, rule_lists, st.lists(competitor_offers(), max_size=5), st.lists(own_offers(), min_size=1, max_size=3),
       histories, our_conditions, st.randoms())
def test_our_own_offer_never_moves_our_price(
    item: dict[str, Decimal], rules: list[PricingRule], competitors: list[Offer], own: list[Offer],
    history: PriceHistory | None, condition: ItemCondition, rng,
) -> None:
    without = MarketSnapshot(offers=competitors, observed_at=NOW)
    mixed = [*competitors, *own]
    rng.shuffle(mixed)
    with_own = MarketSnapshot(offers=mixed, observed_at=NOW)
    assert price_of(item, rules, snapshot=with_own, history=history, listing=ours(condition)) == price_of(
        item, rules, snapshot=without, history=history, listing=ours(condition))


@fast
@given(prices, rule_lists, snapshots, our_conditions, vat)
def test_no_send_when_nothing_changed(
    item: dict[str, Decimal], rules: list[PricingRule], snapshot: MarketSnapshot | None,
    condition: ItemCondition, vat_settings: dict[str, object],
) -> None:
    store = store_settings(**vat_settings)
    first = price_of(item, rules, store=store, snapshot=snapshot, listing=ours(condition))
    again = price_of(item, rules, store=store, snapshot=snapshot, listing=ours(condition),
                     history=PriceHistory(live_price=first.price))
    assert again.price == first.price and not again.send


@fast
@given(st.one_of(standard_rules(), intelligent_rules()))
def test_a_rule_survives_a_json_round_trip_unchanged(rule: PricingRule) -> None:
    again = PricingRule.model_validate_json(rule.model_dump_json())
    assert again == rule
    assert PricingRule.model_validate(rule.model_dump(mode="json")) == rule


def test_settings_survive_a_json_round_trip_unchanged() -> None:
    store = store_settings(vat_enabled=True, vat_percent="10.2", price_scope="website",
                           websites=[{"code": "b", "sort_order": 2}, {"code": "a", "sort_order": 1}],
                           business_pricing_enabled=True, business_tiers=[{"min_quantity": 5, "discount_percent": 5}])
    assert type(store).model_validate_json(store.model_dump_json()) == store
