"""A property of the importer against the real PostgreSQL: whatever the interleaving of duplicate OrderPlaced (the
same event redelivered, or the order announced again with other quantities), status changes in any order, late
products, crashes before commit (the batch delivered again), restarts (a new Importer) and Commerce's answers,
every order gets at most one CommerceOrderRequested (exactly one when its newest status is due), ends at its newest
valid status, and its stock is reserved once: reservation versions rise by one, the quantities are never added up
twice, and they are released when Commerce has the order or it will never be imported.

Events go through the consumer's own steps (inbox claim, handler, outbox in one transaction), without the broker,
so that hypothesis can try many interleavings; tests/integration/test_order_events.py does the same through Kafka.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from functools import reduce
from importlib import resources
from itertools import pairwise
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orders_helpers import KEY, T0, placed, product, settings_doc, status

from contracts import Event, decode
from contracts.events import CommerceOrderCreated, FulfillmentBy, OrderPlaced, OrderStatusChanged
from order_import.buyers import BuyerDataSettings, BuyerVault
from order_import.domain.importing import due
from order_import.domain.lifecycle import PROGRESS, TERMINAL, advance, rank
from order_import.importer import Importer
from order_import.settings import registry
from servicekit import Tx, db
from servicekit import config as servicekit_config
from servicekit import outbox as servicekit_outbox
from servicekit.consumer import BatchProcessor

pytestmark = pytest.mark.integration

SCHEMA = "order_import_property"
ACCOUNT = "prop-acct"
SKUS = ("PROP-A", "PROP-B")
_POOL: dict[str, asyncpg.Pool] = {}


async def pool_for(database_url: str) -> asyncpg.Pool:
    if "pool" not in _POOL:
        pool = await db.create_pool(database_url, SCHEMA, max_size=3)
        await db.migrate(pool, SCHEMA, resources.files("order_import") / "migrations")
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE _config, _config_history")
            await servicekit_config.apply(conn, registry(), [settings_doc(ACCOUNT)])
        _POOL["pool"] = pool
    return _POOL["pool"]


def importer() -> Importer:
    vault = BuyerVault.from_settings(BuyerDataSettings(buyer_data_keys=KEY))
    return Importer("order-import", registry(), vault, blocked_retry=timedelta(0))


class Crash(Exception):
    """The process died before the transaction committed."""


@dataclass
class OrderCase:
    amazon_order_id: str
    fulfillment: FulfillmentBy
    path: list[str]
    sku: str
    quantity: int

    @property
    def newest(self) -> str:
        return reduce(advance, self.path)


@dataclass
class Run:
    pool: asyncpg.Pool
    importer: Importer = field(default_factory=importer)
    answered: set[str] = field(default_factory=set)

    def handler(self, event: Event) -> Any:
        if isinstance(event, OrderPlaced | OrderStatusChanged):
            return self.importer.on_amazon_orders
        if isinstance(event, CommerceOrderCreated):
            return self.importer.on_commerce_orders
        return self.importer.on_products

    async def deliver(self, events: list[Event], *, crash: bool = False) -> None:
        """As servicekit's consumer does: per topic, one transaction of inbox claim, handler and outbox."""
        groups: dict[Any, list[Event]] = {}
        for e in events:
            groups.setdefault(self.handler(e), []).append(e)
        for handler, batch in groups.items():
            async with self.pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        fresh = await BatchProcessor._claim(conn, handler.__name__, batch)
                        tx = Tx(conn, "order-import")
                        if fresh:
                            await handler(tx, fresh)
                            await servicekit_outbox.write(conn, SCHEMA, tx.emitted)
                        if crash:
                            raise Crash
                except Crash:
                    pass

    async def outbox(self) -> list[Any]:
        return [decode(r["payload"]) for r in await self.pool.fetch("SELECT payload FROM _outbox ORDER BY id")]

    async def answer(self) -> None:
        requests = [e for e in await self.outbox() if e.event_type == "CommerceOrderRequested"
                    and e.amazon_order_id not in self.answered]
        for n, r in enumerate(requests):
            self.answered.add(r.amazon_order_id)
            await self.deliver([CommerceOrderCreated.new(
                producer="commerce-gateway", caused_by=r, account_id=r.account_id, marketplace_id=r.marketplace_id,
                amazon_order_id=r.amazon_order_id, created=True, commerce_order_id=str(n), increment_id=str(n))])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[OrderCase], list[Event], list[tuple[str, int]]]:
    cases: list[OrderCase] = []
    events: list[Event] = []
    for n in range(draw(st.integers(1, 5))):
        path = sorted(draw(st.sets(st.sampled_from(PROGRESS), min_size=1, max_size=4)), key=rank)
        if draw(st.integers(0, 3)) == 0:
            path.append(draw(st.sampled_from(sorted(TERMINAL))))
        case = OrderCase(f"P-{n}", draw(st.sampled_from([FulfillmentBy.MFN, FulfillmentBy.AFN])), path,
                         draw(st.sampled_from(SKUS)), draw(st.integers(1, 3)))
        cases.append(case)
        first = placed(ACCOUNT, case.amazon_order_id, path[0], case.fulfillment, sku=case.sku,
                       quantity=case.quantity)
        events.append(first)
        if draw(st.booleans()):
            events.append(first)  # the same event delivered twice
        if draw(st.booleans()):  # announced again, with other quantities
            events.append(placed(ACCOUNT, case.amazon_order_id, path[0], case.fulfillment, sku=case.sku,
                                 quantity=case.quantity + 1))
        for i, (before, after) in enumerate(pairwise(path)):
            change = status(ACCOUNT, case.amazon_order_id, after, before, T0 + timedelta(minutes=i + 1))
            events += [change] * draw(st.integers(1, 2))
    events += [product(sku, quantity=100) for sku in SKUS if draw(st.booleans())]
    events = draw(st.permutations(events))
    steps = draw(st.lists(st.tuples(st.sampled_from(["deliver", "crash", "restart", "answer", "schedule",
                                                     "redeliver"]), st.integers(1, 4)), max_size=25))
    return cases, events, steps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(scenarios())
async def test_one_request_per_due_order_newest_status_and_stock_reserved_once(database_url, scenario) -> None:
    cases, events, steps = scenario
    pool = await pool_for(database_url)
    await pool.execute("TRUNCATE orders, order_notes, listings, products, order_buyers, _inbox, _outbox CASCADE")
    run = Run(pool)
    position = 0
    for action, k in steps:
        if action in ("deliver", "crash"):
            await run.deliver(list(events[position:position + k]), crash=action == "crash")
            position = position if action == "crash" else min(position + k, len(events))
        elif action == "restart":
            run = Run(pool, answered=run.answered)
        elif action == "answer":
            await run.answer()
        elif action == "schedule":
            await run.importer.decide_due(pool, SCHEMA)
        elif position:
            await run.deliver([events[(k * 7) % position]])
    await run.deliver(list(events[position:]))
    await run.deliver([product(sku, quantity=100) for sku in SKUS])
    await run.importer.decide_due(pool, SCHEMA)
    await run.answer()

    emitted = await run.outbox()
    rows = {r["amazon_order_id"]: r for r in await pool.fetch(
        "SELECT amazon_order_id, amazon_status, import_state, reserved::text AS reserved, reservation_version "
        "FROM orders")}
    for case in cases:
        row = rows[case.amazon_order_id]
        requests = [e for e in emitted if e.event_type == "CommerceOrderRequested"
                    and e.amazon_order_id == case.amazon_order_id]
        reservations = [e for e in emitted if e.event_type == "StockReservationChanged"
                        and e.amazon_order_id == case.amazon_order_id]
        ever_due = any(due(case.fulfillment, s) for s in case.path)
        assert row["amazon_status"] == case.newest
        if case.newest not in TERMINAL and due(case.fulfillment, case.newest):
            assert len(requests) == 1 and row["import_state"] == "created"
        else:
            assert len(requests) <= (1 if ever_due else 0)
        assert all(line.quantity in (case.quantity, case.quantity + 1) for r in requests for line in r.lines)
        assert [r.version for r in reservations] == list(range(1, len(reservations) + 1))
        assert row["reservation_version"] == len(reservations)
        assert all(set(r.reserved) <= {case.sku} and all(q in (case.quantity, case.quantity + 1)
                                                          for q in r.reserved.values()) for r in reservations)
        final = json.loads(row["reserved"])
        assert final == (reservations[-1].reserved if reservations else {})
        if case.fulfillment is FulfillmentBy.AFN:
            assert reservations == []
        elif requests or case.newest in TERMINAL:
            assert final == {}
        else:
            assert final == {case.sku: final.get(case.sku)} and final[case.sku] in (case.quantity,
                                                                                   case.quantity + 1)
