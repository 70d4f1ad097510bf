"""The trace tells the whole story of one decision, in order."""

from __future__ import annotations

from decimal import Decimal

from repricer_pricing_builders import intelligent, market, money, offer, price_of, settings, standard

from repricer.domain import BusinessTier, PriceBound, PriceHistory


def test_a_full_decision_traces_every_step_in_order() -> None:
    rules = [
        standard("5 % off", "decrease", "percent", "5", priority=1),
        intelligent(priority=2, floor=PriceBound(source_attribute="cost", action="increase", percent="10"),
                    ceiling=PriceBound(source_attribute="msrp", action="decrease", percent="10")),
        standard("plus 1", "increase", "fixed", "1", priority=3),
    ]
    store = settings(marketplace_id="A1F83G8C2ARO7P", marketplace_currency="GBP", currency_conversion_enabled=True,
                     vat_enabled=True, vat_percent="20", msrp_attribute="msrp", map_attribute="map",
                     business_pricing_enabled=True, tiered_pricing_enabled=True,
                     business_tiers=[BusinessTier(min_quantity=10, discount_percent="3")])
    decision = price_of({"price": "50", "cost": "30", "map": "20", "msrp": "60"}, rules, store=store,
                        rates={"USD/GBP": Decimal("0.80")},
                        snapshot=market(offer("20", currency="GBP", buy_box=True)),
                        history=PriceHistory(live_price=money("40.00", "GBP")))
    assert [s.step for s in decision.trace] == [
        "base_price", "rule", "competitor", "adjustment", "floor", "ceiling", "currency", "vat", "rule",
        "rule", "map", "msrp", "business_price", "business_tier",
    ]
    # floor 30 + 10 % = 33 USD -> 26.40 GBP -> 31.68 with VAT, above the Buy Box 20; then + 1
    assert decision.price == money("32.68", "GBP")
    assert decision.floor == money("31.68", "GBP") and decision.send
    assert all(s.price is None or s.price.currency in ("USD", "GBP") for s in decision.trace)
