"""Claims: no transaction stays open while Amazon answers, and rows a dead sender left in flight are taken back.

Real broker and PostgreSQL; Amazon is the in-process simulator.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from amazon_gateway.testing import listing_results
from contracts import encode
from devstack.testing import eventually, publish

pytestmark = pytest.mark.integration




async def test_no_transaction_is_open_while_amazon_is_slow(gateway_factory: Any, kit: Any) -> None:
    gateway = await gateway_factory()
    skus = kit.new_skus(3)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku)
    await gateway.sim.post("/_sim/faults", json={"latency_ms": 1500, "operations": ["patchListingsItem"]})
    requests = [kit.price_request(sku, "31.00", 1) for sku in skus]
    await publish(gateway.bootstrap, requests)

    longest = 0.0
    saw_in_flight = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        longest = max(longest, float(await gateway.db.fetchval(
            "SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL")))
        statuses = {r["status"] for r in await gateway.db.fetch(
            f"SELECT status FROM {gateway.service.schema}.pending_updates WHERE request_id = ANY($1::uuid[])",
            [r.event_id for r in requests])}
        saw_in_flight |= "in_flight" in statuses
        if statuses == {"done"}:
            break
        await asyncio.sleep(0.1)
    assert saw_in_flight, "the rows were never seen in flight"
    assert longest < 1.0, f"a transaction stayed open {longest:.1f}s while patchListingsItem took 1.5s"
    results = await listing_results(gateway.bootstrap, requests)
    assert len(results) == 3 and all(r.accepted for r in results)


async def test_rows_left_in_flight_by_a_dead_sender_are_sent_and_newest_still_wins(gateway_factory: Any,
                                                                                    kit: Any) -> None:
    gateway = await gateway_factory(sender_lease_s=3.0)
    schema = gateway.service.schema
    stale_sku, lone_sku = kit.new_skus(2)
    for sku in (stale_sku, lone_sku):
        await kit.seed_listing(gateway.sim, sku)
    older = kit.price_request(stale_sku, "40.00", 1)
    lone = kit.price_request(lone_sku, "41.00", 1)
    dead = uuid.uuid4()  # a sender killed mid-call: its lease was renewed just now, never again
    await gateway.db.execute(f"INSERT INTO {schema}.sender_leases (claim) VALUES ($1)", dead)
    for request in (older, lone):
        await gateway.db.execute(
            f"INSERT INTO {schema}.pending_updates (request_id, account_id, marketplace_id, sku, requested_at, "
            "request, status, claim, claimed_at) VALUES ($1, $2, $3, $4, $5, $6, 'in_flight', $7, now())",
            request.event_id, request.account_id, request.marketplace_id, request.sku, request.requested_at,
            encode(request), dead)
    newer = kit.price_request(stale_sku, "42.00", 2)
    await publish(gateway.bootstrap, [newer])
    await eventually(lambda: _status_is(gateway, newer.event_id, "pending"), timeout=10, what="newer stored")
    assert await gateway.status_of(older.event_id) == "in_flight"  # the listing waits for the dead claim

    results = {r.request_event_id: r for r in await listing_results(
        gateway.bootstrap, {str(older.event_id), str(newer.event_id), str(lone.event_id)})}
    assert results[str(lone.event_id)].accepted
    assert results[str(newer.event_id)].accepted
    assert [i.code for i in results[str(older.event_id)].issues] == ["Superseded"]
    assert (await kit.listing_state(gateway.sim, stale_sku))["prices"] == {kit.US: "42.00"}
    assert (await kit.listing_state(gateway.sim, lone_sku))["prices"] == {kit.US: "41.00"}
    stats = (await gateway.sim.get("/_sim/stats")).json()
    assert stats["operations"]["patchListingsItem"]["200"] == 2  # the older price was never sent


async def _status_is(gateway: Any, request_id: uuid.UUID, status: str) -> bool:
    return await gateway.status_of(request_id) == status
