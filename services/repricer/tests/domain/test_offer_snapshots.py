"""Offer sets as the offers table keeps them: compact, read back unchanged, and rows stored in
the earlier object form still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import Money
from contracts.events import FulfillmentChannel, Offer, OfferPriceObserved
from repricer import translate

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("99999"), places=2).map(Decimal.normalize)
currencies = st.sampled_from(["USD", "EUR", "JPY"])


@st.composite
def offers(draw: st.DrawFn) -> Offer:
    return Offer(
        seller_id=draw(st.text(min_size=1, max_size=12)), is_ours=draw(st.booleans()),
        condition=draw(st.sampled_from(["new", "used", "collectible", "refurbished", "club", "Used"])),
        sub_condition=draw(st.one_of(st.none(), st.sampled_from(["very_good", "good", "like_new", "acceptable"]))),
        fulfillment_channel=draw(st.sampled_from(list(FulfillmentChannel))),
        listing_price=Money(amount=draw(amounts), currency=draw(currencies)),
        shipping=Money(amount=draw(amounts), currency=draw(currencies)),
        feedback_rating=draw(st.one_of(st.none(), st.integers(0, 100))),
        feedback_count=draw(st.one_of(st.none(), st.integers(0, 10**6))),
        is_buy_box_winner=draw(st.booleans()), is_prime=draw(st.booleans()),
    )


observed = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]))


@settings(max_examples=200, deadline=None)
@given(st.lists(offers(), max_size=20), observed)
def test_a_stored_offer_set_reads_back_as_it_came(found: list[Offer], at: datetime) -> None:
    event = OfferPriceObserved.new(producer="test", marketplace_id="M", asin="B0", observed_at=at, offers=found)
    stored = translate.snapshot_json(event)
    assert translate.market_from_json(stored) == translate.market_of(event)


def test_the_stored_form_is_much_smaller_than_the_offers_as_objects() -> None:
    one = Offer(seller_id="S00001", is_ours=False, condition="used", sub_condition="very_good",
                fulfillment_channel=FulfillmentChannel.AMAZON, listing_price=Money(amount=Decimal("19.99"),
                currency="USD"), shipping=Money(amount=Decimal("0"), currency="USD"), feedback_rating=97,
                feedback_count=1200, is_buy_box_winner=True, is_prime=True)
    event = OfferPriceObserved.new(producer="test", marketplace_id="M", asin="B0",
                                   observed_at=datetime(2026, 1, 1, tzinfo=UTC), offers=[one] * 12)
    as_objects = event.model_dump_json(include={"observed_at", "offers"})
    assert len(translate.snapshot_json(event)) < len(as_objects) / 2


def test_rows_stored_as_objects_still_read() -> None:
    earlier = ('{"observed_at": "2026-11-26T12:00:00Z", "offers": [{"seller_id": "RIVAL", "is_ours": false, '
               '"condition": "new", "sub_condition": null, "fulfillment_channel": "Amazon", '
               '"listing_price": {"amount": "25.00", "currency": "USD"}, "shipping": {"amount": "0", '
               '"currency": "USD"}, "feedback_rating": 97, "feedback_count": 900, "is_buy_box_winner": true, '
               '"is_prime": false}]}')
    market = translate.market_from_json(earlier)
    assert market is not None and market.observed_at == datetime(2026, 11, 26, 12, tzinfo=UTC)
    assert market.offers[0].listing_price == Money(amount=Decimal("25.00"), currency="USD")
    assert market.offers[0].is_buy_box_winner
    assert translate.market_from_json(None) is None
