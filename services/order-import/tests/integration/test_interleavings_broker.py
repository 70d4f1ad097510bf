"""The property of test_exactly_once_property.py through Kafka with the service rebuilt between chunks: random
interleavings of duplicate and changed OrderPlaced and out-of-order status changes, published in chunks, a new
service (process state gone) for each chunk. One CommerceOrderRequested per due order, the newest status, one
reservation version per change."""

from __future__ import annotations

from datetime import timedelta
from functools import reduce

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orders_helpers import T0, placed, product, run_id, running, settings_doc, status

from contracts.events import FulfillmentBy
from order_import.domain.importing import due
from order_import.domain.lifecycle import PROGRESS, advance, rank

pytestmark = pytest.mark.integration


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[list[tuple[str, FulfillmentBy, list[str]]], list[int], list[int]]:
    orders = []
    for n in range(8):
        path = sorted(draw(st.sets(st.sampled_from(PROGRESS), min_size=1, max_size=3)), key=rank)
        if draw(st.integers(0, 4)) == 0:
            path.append("Canceled")
        orders.append((str(n), draw(st.sampled_from([FulfillmentBy.MFN, FulfillmentBy.AFN])), path))
    total = sum(len(p) + 2 for _, _, p in orders)
    order = draw(st.permutations(range(total)))
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), min_size=1, max_size=2, unique=True)))
    return orders, list(order), cuts


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(interleavings())
async def test_random_interleavings_across_rebuilt_services(topics_created, database_url, case) -> None:
    orders, permutation, cuts = case
    run = run_id()
    account, sku = f"il-{run}", f"SKU-{run}"
    ids = {n: f"150-{run}-{n}" for n, _, _ in orders}
    events = []
    for n, fulfillment, path in orders:
        first = placed(account, ids[n], path[0], fulfillment, sku=sku)
        events += [first, placed(account, ids[n], path[0], fulfillment, sku=sku, quantity=2)]
        events += [status(account, ids[n], after, before, T0 + timedelta(minutes=i + 1))
                   for i, (before, after) in enumerate(zip([None, *path[:-1]], path, strict=True))]
    shuffled = [events[i] for i in permutation]
    chunks = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    for number, chunk in enumerate(chunks):
        async with running(topics_created, database_url) as h:
            if number == 0:
                await h.apply(settings_doc(account))
                await h.send(product(sku, quantity=1000))
            await h.send(*chunk, *chunk[:2])  # the first two delivered twice
    async with running(topics_created, database_url) as h:
        states = {n: await h.pool.fetchrow("SELECT amazon_status, import_state FROM orders WHERE amazon_order_id = $1",
                                           ids[n]) for n, _, _ in orders}
        requests = await h.requests(*ids.values())
        reservations = await h.reservations(*ids.values())

    for n, fulfillment, path in orders:
        newest = reduce(advance, path)
        mine = [r for r in requests if r.amazon_order_id == ids[n]]
        assert states[n]["amazon_status"] == newest
        if due(fulfillment, newest):
            assert len(mine) == 1 and states[n]["import_state"] == "requested"
        else:
            assert len(mine) <= (1 if any(due(fulfillment, s) for s in path) else 0)
        versions = [r.version for r in reservations if r.amazon_order_id == ids[n]]
        assert versions == list(range(1, len(versions) + 1))
        if fulfillment is FulfillmentBy.AFN:
            assert versions == []
