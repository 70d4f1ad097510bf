"""A large backlog goes to Amazon as JSON_LISTINGS_FEEDs: processing report issues, read-back, resends, restarts.

Real broker and PostgreSQL; Amazon is the in-process simulator, its feeds processed on its clock.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest

from amazon_gateway.client import SpApiClient
from amazon_gateway.domain import payloads
from amazon_gateway.feeds import FeedRunner, StoredFeed, rebuild_messages, resend_or_fail
from amazon_gateway.testing import listing_results
from contracts import decode, topics
from contracts.events import CommunicationError, ListingUpdateRequested
from contracts.money import Money
from devstack.testing import eventually, publish, read_topic

pytestmark = pytest.mark.integration

# Feeds as soon as more than a handful of listings wait, polled quickly (the simulator takes about 1 s a feed).
FEEDS_SOON = {"feed_backlog_threshold": 5, "feed_linger_s": 0.3, "feed_max_wait_s": 5, "feed_poll_s": 0.2,
              "feed_poll_max_s": 0.5, "sender_idle_s": 0.05}


@pytest.fixture
async def feeds_clean(db: Any) -> None:
    """Feeds a previous test left open would be adopted by this test's gateway."""
    try:
        await db.execute("DELETE FROM amazon_gateway.listing_feeds")
    except Exception:  # the schema is created by the first gateway of the run
        pass




def bursts(kit: Any, skus: list[str], per_sku: int, base: int = 20) -> list[ListingUpdateRequested]:
    """`per_sku` price changes per SKU, interleaved across SKUs, each SKU's newest not published last."""
    requests = []
    for minute in [2, 0, 3, 1][:per_sku]:
        requests += [kit.price_request(sku, f"{base + i}.{minute}9", minute) for i, sku in enumerate(skus)]
    return requests


def newest_price(requests: list[ListingUpdateRequested], sku: str) -> str:
    return str(max((r for r in requests if r.sku == sku), key=lambda r: r.requested_at).price.amount)  # type: ignore[union-attr]


async def stats(gateway: Any) -> dict[str, Any]:
    return (await gateway.sim.get("/_sim/stats")).json()


def calls(s: dict[str, Any], operation: str, status: str = "calls") -> int:
    return int(s["operations"].get(operation, {}).get(status, 0))


async def test_big_backlog_goes_as_one_feed_with_newest_values(gateway_factory: Any, kit: Any,
                                                                 feeds_clean: None) -> None:
    gateway = await gateway_factory(**FEEDS_SOON)
    skus = kit.new_skus(40)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku)
    requests = bursts(kit, skus, 4)
    await publish(gateway.bootstrap, requests)

    results = await listing_results(gateway.bootstrap, requests)
    assert Counter(r.request_event_id for r in results) == Counter(str(r.event_id) for r in requests)
    newest = {str(max((r for r in requests if r.sku == s), key=lambda r: r.requested_at).event_id) for s in skus}
    for result in results:
        if result.request_event_id in newest:
            assert result.accepted and result.submission_id, result
        else:
            assert not result.accepted and [i.code for i in result.issues] == ["Superseded"]
    for sku in skus:
        assert (await kit.listing_state(gateway.sim, sku))["prices"] == {kit.US: newest_price(requests, sku)}
    s = await stats(gateway)
    assert calls(s, "patchListingsItem") == 0
    assert 1 <= calls(s, "createFeed") <= 2
    assert calls(s, "getListingsItem") == 0 and calls(s, "searchListingsItems") == 0  # read back from the report
    feeds = await gateway.db.fetch(f"SELECT status, processing_status FROM {gateway.service.schema}.listing_feeds")
    assert feeds and {(f["status"], f["processing_status"]) for f in feeds} == {("done", "DONE")}


async def test_processing_report_errors_become_results_with_issues(gateway_factory: Any, kit: Any,
                                                                    feeds_clean: None) -> None:
    gateway = await gateway_factory(**FEEDS_SOON)
    known = kit.new_skus(12)
    unknown = kit.new_skus(3)  # Amazon has no listing for these: a PATCH message is refused
    for sku in known:
        await kit.seed_listing(gateway.sim, sku)
    requests = [kit.price_request(sku, f"1{i}.50", 1) for i, sku in enumerate(known + unknown)]
    await publish(gateway.bootstrap, requests)

    results = {r.request_event_id: r for r in await listing_results(gateway.bootstrap, requests)}
    assert len(results) == len(requests)
    for request in requests:
        result = results[str(request.event_id)]
        if request.sku in unknown:
            assert not result.accepted
            assert [(i.code, i.severity) for i in result.issues] == [("4000004", "ERROR")]
            assert request.sku in result.issues[0].message
        else:
            assert result.accepted and result.issues == []
    assert calls(await stats(gateway), "patchListingsItem") == 0


async def test_accepted_but_not_applied_in_a_feed_is_sent_again(gateway_factory: Any, kit: Any,
                                                                 feeds_clean: None) -> None:
    gateway = await gateway_factory(verify_attempts=6, **FEEDS_SOON)
    await gateway.sim.post("/_sim/faults", json={"seed": 4, "drop_update_rate": 0.4, "operations": ["createFeed"]})
    skus = kit.new_skus(20)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku)
    requests = bursts(kit, skus, 2, base=40)
    requests += [kit.quantity_request(sku, 30 + i, 5) for i, sku in enumerate(skus)]
    await publish(gateway.bootstrap, requests)

    results = await listing_results(gateway.bootstrap, requests, timeout=120)
    assert Counter(r.request_event_id for r in results) == Counter(str(r.event_id) for r in requests)
    assert sum(r.accepted for r in results) == 2 * len(skus)  # the newest price and the quantity of each SKU
    for i, sku in enumerate(skus):
        state = await kit.listing_state(gateway.sim, sku)
        assert state["prices"] == {kit.US: newest_price([r for r in requests if r.kind == "price"], sku)}
        assert state["quantity"] == 30 + i
    s = await stats(gateway)
    assert s["faults"]["dropped_updates"] > 0
    resent = await gateway.db.fetchval(
        f"SELECT count(*) FROM {gateway.service.schema}.pending_updates WHERE request_id = ANY($1::uuid[]) "
        "AND attempts > 1", [r.event_id for r in requests])
    assert resent > 0


async def test_never_applied_in_feeds_fails_after_bounded_sends(gateway_factory: Any, kit: Any,
                                                                feeds_clean: None) -> None:
    gateway = await gateway_factory(verify_attempts=2, **(FEEDS_SOON | {"feed_backlog_threshold": 0}))
    await gateway.sim.post("/_sim/faults", json={"drop_update_rate": 1.0})
    skus = kit.new_skus(3)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku)
    requests = [kit.price_request(sku, "66.60", 1) for sku in skus]
    await publish(gateway.bootstrap, requests)

    wanted = {str(r.event_id) for r in requests}

    def mine(records: list[Any]) -> list[CommunicationError]:
        return [e for e in (decode(r.value) for r in records) if isinstance(e, CommunicationError)
                and e.request_ref in wanted]

    errors = mine(await read_topic(gateway.bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=60,
                                   until=lambda rs: {e.request_ref for e in mine(rs)} == wanted))
    assert {(e.operation, e.code, e.attempts) for e in errors} == {("createFeed", "NotApplied", 2)}
    rows = await gateway.db.fetch(f"SELECT status, attempts FROM {gateway.service.schema}.pending_updates "
                                  "WHERE request_id = ANY($1::uuid[])", [r.event_id for r in requests])
    assert {(r["status"], r["attempts"]) for r in rows} == {("failed", 2)}
    for sku in skus:
        assert (await kit.listing_state(gateway.sim, sku))["prices"] == {kit.US: "10.00"}


async def test_restart_mid_feed_polls_the_same_feed(gateway_factory: Any, kit: Any, feeds_clean: None) -> None:
    """A gateway stopped after submitting: the next one adopts the feed once the lease runs out, never re-sends."""
    slow = FEEDS_SOON | {"feed_poll_s": 3600, "feed_poll_max_s": 3600, "sender_lease_s": 1.0}
    first = await gateway_factory(**slow)
    skus = kit.new_skus(10)
    for sku in skus:
        await kit.seed_listing(first.sim, sku)
    requests = bursts(kit, skus, 2, base=70)
    await publish(first.bootstrap, requests)
    schema = first.service.schema

    async def submitted() -> bool:
        return await first.db.fetchval(
            f"SELECT count(*) FROM {schema}.listing_feeds WHERE status = 'submitted' AND amazon_feed_id IS NOT NULL "
            "AND account_id = $1", kit.ACCOUNT_ID) > 0

    await eventually(submitted, timeout=60, what="feed submitted")
    await first.service.stop()
    assert calls(await stats(first), "createFeed") == 1

    second = await gateway_factory(**(slow | {"feed_poll_s": 0.2, "feed_poll_max_s": 0.5}))
    results = await listing_results(second.bootstrap, requests)
    assert Counter(r.request_event_id for r in results) == Counter(str(r.event_id) for r in requests)
    assert sum(r.accepted for r in results) == len(skus)
    for sku in skus:
        assert (await kit.listing_state(second.sim, sku))["prices"] == {kit.US: newest_price(requests, sku)}
    s = await stats(second)
    assert calls(s, "createFeed") == 1 and calls(s, "patchListingsItem") == 0
    feed_ids = {r.submission_id for r in results if r.accepted}
    assert len(feed_ids) == 1


async def test_a_fatal_feed_rejects_every_request_with_amazons_issue(gateway_factory: Any, kit: Any,
                                                                      feeds_clean: None) -> None:
    """The feed header names a seller the authorization is not for: Amazon fails the whole feed."""
    wrong_seller = kit.gateway_account(seller_id="A1NOTTHESELLER")
    gateway = await gateway_factory(accounts=[wrong_seller], **FEEDS_SOON)
    skus = kit.new_skus(8)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku)
    requests = [kit.price_request(sku, "19.00", 1) for sku in skus]
    await publish(gateway.bootstrap, requests)

    results = await listing_results(gateway.bootstrap, requests)
    assert len(results) == len(requests) and not any(r.accepted for r in results)
    for result in results:
        assert [(i.code, i.severity) for i in result.issues] == [("100000", "ERROR")]
        assert "sellerId" in result.issues[0].message
    for sku in skus:
        assert (await kit.listing_state(gateway.sim, sku))["prices"] == {kit.US: "10.00"}
    feeds = await gateway.db.fetch(f"SELECT status, processing_status FROM {gateway.service.schema}.listing_feeds")
    assert [(f["status"], f["processing_status"]) for f in feeds] == [("done", "FATAL")]


async def test_listings_the_report_leaves_out_are_read_back_twenty_a_call(sim_http: Any, kit: Any) -> None:
    client = SpApiClient({kit.ACCOUNT_ID: kit.gateway_account()}, http=sim_http, api_base_url=kit.SIM_BASE,
                         lwa_url=f"{kit.SIM_BASE}/auth/o2/token")
    skus = kit.new_skus(25)
    for i, sku in enumerate(skus[:24]):
        await kit.seed_listing(sim_http, sku, price=10 + i)
    runner = FeedRunner(SimpleNamespace(client=client), poll_s=1, poll_max_s=1)  # type: ignore[arg-type]
    feed = StoredFeed(1, kit.ACCOUNT_ID, kit.US, "submitted", "1", b"{}", {}, {})
    found = await runner._read_back(feed, skus)
    assert set(found) == set(skus)
    assert found[skus[-1]] == {}  # unknown at Amazon: nothing applied
    assert payloads.observed_price(found[skus[3]], kit.US) == Money(amount="13.00", currency="USD")
    stats = (await sim_http.get("/_sim/stats")).json()
    assert stats["operations"]["searchListingsItems"]["200"] == 2


def test_stored_messages_rebuild_only_requests_still_in_flight(kit: Any) -> None:
    price, quantity = kit.price_request("S1", "1.00", 1), kit.quantity_request("S1", 3, 1)
    other = kit.price_request("S2", "2.00", 1)
    messages = {"1": {"price": str(price.event_id), "quantity": str(quantity.event_id)},
                "2": {"price": str(other.event_id)}}
    rebuilt = rebuild_messages(messages, {str(price.event_id): price, str(quantity.event_id): quantity})
    assert list(rebuilt) == [1]
    assert rebuilt[1].key == (kit.ACCOUNT_ID, kit.US, "S1") and set(rebuilt[1].fields) == {"price", "quantity"}


def test_an_unapplied_update_is_sent_again_until_its_sends_run_out() -> None:
    assert [resend_or_fail(n, 3) for n in (1, 2, 3, 4)] == ["pending", "pending", "failed", "failed"]
