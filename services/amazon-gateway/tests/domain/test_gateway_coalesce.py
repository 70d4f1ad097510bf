from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amazon_gateway.domain.coalesce import (
    FEED_SCHEMA_MAX_MESSAGES,
    LIFECYCLE,
    PRICE,
    QUANTITY,
    Candidate,
    ListingUpdateCoalescer,
    choose_keys,
)
from contracts.events import ListingUpdateKind, ListingUpdateRequested
from contracts.money import Money

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def request(sku="SKU-1", kind=ListingUpdateKind.PRICE, at=0, *, account="acct", marketplace="A1PA6795UKMFR9", **fields):
    if kind is ListingUpdateKind.PRICE:
        fields.setdefault("price", Money(amount=f"{10 + at}.00", currency="EUR"))
    if kind is ListingUpdateKind.QUANTITY:
        fields.setdefault("quantity", at)
    return ListingUpdateRequested.new(
        producer="repricer",
        account_id=account,
        marketplace_id=marketplace,
        sku=sku,
        kind=kind,
        requested_at=T0 + timedelta(seconds=at),
        **fields,
    )


def test_newest_request_wins_per_field():
    c = ListingUpdateCoalescer()
    old_price, new_price, qty = request(at=1), request(at=2), request(kind=ListingUpdateKind.QUANTITY, at=1)
    superseded = c.add_all([old_price, new_price, qty])
    assert [s.request for s in superseded] == [old_price]
    assert superseded[0].by == new_price.event_id
    [update] = c.drain()
    assert update.fields == {PRICE: new_price, QUANTITY: qty}
    assert set(update.request_ids) == {new_price.event_id, qty.event_id}
    assert len(c) == 0


def test_an_older_request_arriving_later_is_superseded():
    c = ListingUpdateCoalescer()
    newer, older = request(at=5), request(at=3)
    c.add(newer)
    [superseded] = c.add(older)
    assert superseded.request is older and superseded.by == newer.event_id
    assert c.drain()[0].fields[PRICE] is newer


def test_an_older_request_never_overwrites_one_already_sent():
    c = ListingUpdateCoalescer()
    c.add(request(at=5))
    c.drain()
    late = request(at=3)
    assert [s.request for s in c.add(late)] == [late]
    assert c.drain() == []
    newer = request(at=6)
    assert c.add(newer) == []
    assert c.drain()[0].fields[PRICE] is newer


def test_ties_go_to_the_later_arrival():
    c = ListingUpdateCoalescer()
    first, second = request(at=1, price=Money(amount="1", currency="EUR")), request(at=1, price=Money(amount="2", currency="EUR"))
    c.add_all([first, second])
    assert c.drain()[0].fields[PRICE] is second


def test_attributes_are_coalesced_per_attribute():
    c = ListingUpdateCoalescer()
    both = request(kind=ListingUpdateKind.ATTRIBUTES, at=1, attributes={"item_name": "Old", "brand": "Acme"})
    name = request(kind=ListingUpdateKind.ATTRIBUTES, at=2, attributes={"item_name": "New"})
    assert c.add_all([both, name]) == []
    [update] = c.drain()
    assert update.fields == {"attributes.brand": both, "attributes.item_name": name}


def test_a_delete_carries_nothing_else():
    c = ListingUpdateCoalescer()
    price = request(at=1)
    delete = request(kind=ListingUpdateKind.DELETE, at=2)
    later_qty = request(kind=ListingUpdateKind.QUANTITY, at=3)
    c.add_all([price, delete, later_qty])
    [update] = c.drain()
    assert update.fields == {LIFECYCLE: delete}
    assert {s.request.event_id for s in update.superseded} == {price.event_id, later_qty.event_id}


def test_urgent_listings_drain_first_and_max_items_is_honoured():
    c = ListingUpdateCoalescer()
    c.add_all([request("A", at=1), request("B", at=2), request("C", at=3, urgent=True)])
    assert [u.sku for u in c.drain(2)] == ["C", "A"]
    assert [u.sku for u in c.drain(5)] == ["B"]


def test_listings_are_keyed_by_account_marketplace_and_sku():
    c = ListingUpdateCoalescer()
    c.add_all([request(at=1), request(at=2, account="other"), request(at=3, marketplace="ATVPDKIKX0DER")])
    assert len(c.drain()) == 3


def test_small_backlog_goes_as_single_patches():
    c = ListingUpdateCoalescer()
    c.add_all([request(f"S{i}", at=i) for i in range(3)])
    c.add(request("NEW", kind=ListingUpdateKind.CREATE, at=9, product_type="LUGGAGE"))
    c.add(request("OLD", kind=ListingUpdateKind.DELETE, at=9))
    plan = c.plan(backlog_threshold=10)
    assert plan.feeds == ()
    assert [call.operation for call in plan.calls] == ["patchListingsItem"] * 3 + ["putListingsItem", "deleteListingsItem"]


def test_large_backlog_goes_as_feeds_per_account_and_marketplace_but_urgent_ones_do_not():
    c = ListingUpdateCoalescer()
    c.add_all([request(f"S{i}", at=i) for i in range(25)])
    c.add_all([request(f"U{i}", at=i, account="acct-2") for i in range(3)])
    c.add(request("HOT", at=100, urgent=True))
    plan = c.plan(backlog_threshold=5, feed_messages=10)
    assert [call.update.sku for call in plan.calls] == ["HOT"]
    assert [(f.account_id, len(f.updates)) for f in plan.feeds] == [("acct", 10), ("acct", 10), ("acct", 5), ("acct-2", 3)]
    covered = [i for f in plan.feeds for i in f.request_ids] + [i for call in plan.calls for i in call.request_ids]
    assert len(covered) == len(set(covered)) == 29


def test_feed_size_is_bounded_by_the_schema():
    with pytest.raises(ValueError):
        ListingUpdateCoalescer().plan(0, feed_messages=FEED_SCHEMA_MAX_MESSAGES + 1)


kinds = st.sampled_from([ListingUpdateKind.PRICE, ListingUpdateKind.QUANTITY])


@st.composite
def shuffled_requests(draw):
    specs = draw(
        st.lists(
            st.tuples(st.sampled_from(["A", "B", "C"]), kinds, st.sampled_from(["acct-1", "acct-2"])),
            min_size=1,
            max_size=30,
        )
    )
    times = draw(st.lists(st.integers(0, 10_000), min_size=len(specs), max_size=len(specs), unique=True))
    requests = [request(sku, kind, at, account=account) for (sku, kind, account), at in zip(specs, times, strict=True)]
    order = draw(st.permutations(requests))
    drains_after = draw(st.sets(st.integers(0, len(order) - 1), max_size=4))
    return requests, order, drains_after


def _field(r):
    return ((r.account_id, r.marketplace_id, r.sku), PRICE if r.kind is ListingUpdateKind.PRICE else QUANTITY)


@settings(max_examples=200, deadline=None)
@given(shuffled_requests())
def test_whatever_the_arrival_order_the_newest_request_is_what_was_sent_last(case):
    requests, order, drains_after = case
    newest = {}
    for r in requests:
        if _field(r) not in newest or r.requested_at > newest[_field(r)].requested_at:
            newest[_field(r)] = r
    c = ListingUpdateCoalescer()
    sent = {}
    for i, r in enumerate(order):
        c.add(r)
        if i in drains_after:
            for update in c.drain():
                for name, req in update.fields.items():
                    previous = sent.get((update.key, name))
                    assert previous is None or previous.requested_at < req.requested_at
                    sent[(update.key, name)] = req
    for update in c.drain():
        for name, req in update.fields.items():
            previous = sent.get((update.key, name))
            assert previous is None or previous.requested_at < req.requested_at
            sent[(update.key, name)] = req
    assert sent == newest


@settings(max_examples=100, deadline=None)
@given(shuffled_requests())
def test_every_request_is_either_sent_or_reported_superseded(case):
    requests, order, _ = case
    c = ListingUpdateCoalescer()
    superseded = {s.request.event_id for r in order for s in c.add(r)}
    sent = {i for u in c.drain() for i in u.request_ids}
    assert superseded | sent == {r.event_id for r in requests}
    assert not superseded & sent


def candidate(sku, *, urgent=False, age=10.0, quiet=10.0):
    return Candidate(("acct", "A1PA6795UKMFR9", sku), urgent, age, quiet)


CHOOSE = {"batch_size": 3, "backlog_threshold": 5, "linger_s": 2.0, "max_wait_s": 30.0, "feeds_open": True}


def test_a_small_backlog_goes_in_batches_of_single_calls():
    cands = [candidate(f"S{i}", quiet=0) for i in range(5)]
    assert [k[2] for k in choose_keys(cands, **CHOOSE)] == ["S0", "S1", "S2"]


def test_a_large_backlog_waits_for_the_burst_to_end_but_urgent_ones_go_now():
    cands = [candidate("U", urgent=True, quiet=0)] + [candidate(f"S{i}", quiet=0.5) for i in range(6)]
    assert [k[2] for k in choose_keys(cands, **CHOOSE)] == ["U"]
    quiet = [candidate("U", urgent=True)] + [candidate(f"S{i}", quiet=2.5) for i in range(6)]
    assert len(choose_keys(quiet, **CHOOSE)) == 7


def test_a_backlog_that_keeps_growing_goes_after_the_longest_wait():
    cands = [candidate(f"S{i}", quiet=0.1, age=30.0 if i == 0 else 1.0) for i in range(6)]
    assert len(choose_keys(cands, **CHOOSE)) == 6


def test_no_feed_while_too_many_are_open():
    cands = [candidate(f"S{i}") for i in range(6)]
    assert choose_keys(cands, **(CHOOSE | {"feeds_open": False})) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(0, 60), st.floats(0, 60)), max_size=40),
       st.integers(1, 10), st.integers(0, 10), st.booleans())
def test_chosen_keys_are_candidates_and_urgent_ones_are_never_held_back(rows, batch, threshold, feeds_open):
    cands = sorted((candidate(f"S{i}", urgent=u, age=max(a, q), quiet=q) for i, (u, a, q) in enumerate(rows)),
                   key=lambda c: not c.urgent)
    chosen = choose_keys(cands, batch_size=batch, backlog_threshold=threshold, linger_s=2.0, max_wait_s=30.0,
                         feeds_open=feeds_open)
    keys = [c.key for c in cands]
    assert len(set(chosen)) == len(chosen) and set(chosen) <= set(keys)
    assert {c.key for c in cands if c.urgent} <= set(chosen)
    assert chosen == [k for k in keys if k in set(chosen)]  # urgent first, then oldest: the order is kept
