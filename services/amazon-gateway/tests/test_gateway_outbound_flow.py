"""ListingUpdateRequested in, Amazon (the simulator) updated, ListingUpdateResult or CommunicationError out.

Real broker and PostgreSQL; Amazon is the in-process simulator.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
import structlog

from amazon_gateway.testing import listing_results
from contracts import decode, topics
from contracts.events import CommunicationError, ListingUpdateRequested, ListingUpdateResult
from devstack.testing import auth_headers, eventually, publish, read_topic

pytestmark = pytest.mark.integration




async def errors_for(bootstrap: str, request: ListingUpdateRequested, timeout: float = 60) -> list[CommunicationError]:
    def mine(records: list[Any]) -> list[CommunicationError]:
        found = [decode(r.value) for r in records]
        return [e for e in found if isinstance(e, CommunicationError)
                and str(request.event_id) in (e.request_ref or "").split(",")]

    return mine(await read_topic(bootstrap, topics.COMMUNICATION_ERRORS.name, timeout=timeout,
                                 until=lambda rs: bool(mine(rs))))


def newest(requests: list[ListingUpdateRequested], sku: str, kind: str) -> ListingUpdateRequested:
    return max((r for r in requests if r.sku == sku and r.kind == kind), key=lambda r: r.requested_at)


def assert_applied_in_order(requests: list[ListingUpdateRequested], results: list[ListingUpdateResult]) -> None:
    """One result per request; per SKU and field, accepted values never go back in time."""
    assert Counter(r.request_event_id for r in results) == Counter(str(r.event_id) for r in requests)
    by_id = {str(r.event_id): r for r in requests}
    last: dict[tuple[str, str], Any] = {}
    for result in results:  # topic order is per-listing order
        request = by_id[result.request_event_id]
        if result.accepted:
            key = (request.sku, request.kind)
            assert key not in last or last[key] < request.requested_at, f"{key} went back in time"
            last[key] = request.requested_at
        else:
            assert [i.code for i in result.issues] == ["Superseded"], result.issues
    for sku, kind in {(r.sku, r.kind) for r in requests}:
        assert last[(sku, kind)] == newest(requests, sku, kind).requested_at


async def test_out_of_order_requests_end_with_the_newest_values(gateway_factory: Any, kit: Any) -> None:
    gateway = await gateway_factory()
    skus = kit.new_skus(3)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku)
    requests = []
    for sku in skus:
        minutes = list(range(4))
        random.Random(sku).shuffle(minutes)  # published out of requested_at order
        requests += [kit.price_request(sku, f"{20 + m}.{m}5", m) for m in minutes]
        requests += [kit.quantity_request(sku, 10 + m, m) for m in reversed(minutes)]
    await publish(gateway.bootstrap, requests)

    results = await listing_results(gateway.bootstrap, requests)
    assert_applied_in_order(requests, results)
    for sku in skus:
        state = await kit.listing_state(gateway.sim, sku)
        assert state["prices"] == {kit.US: str(newest(requests, sku, "price").price.amount)}
        assert state["quantity"] == newest(requests, sku, "quantity").quantity


async def test_errors_and_rate_limits_still_end_with_the_newest_values(gateway_factory: Any, kit: Any) -> None:
    gateway = await gateway_factory(amazon_max_attempts=10)
    await gateway.sim.post("/_sim/faults", json={"seed": 5, "error_rate": 0.2})
    skus = kit.new_skus(8)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku)
    requests = []
    for i, sku in enumerate(skus):
        minutes = [2, 0, 3, 1]
        requests += [kit.price_request(sku, f"{30 + i}.{m}9", m) for m in minutes]
        requests += [kit.quantity_request(sku, 100 * i + m, m) for m in minutes[::-1]]
    # Half now, half once the first half is on its way: later arrivals meet rows already sent.
    await publish(gateway.bootstrap, requests[: len(requests) // 2])
    await publish(gateway.bootstrap, requests[len(requests) // 2:])

    results = await listing_results(gateway.bootstrap, requests, timeout=120)
    assert_applied_in_order(requests, results)
    for sku in skus:
        state = await kit.listing_state(gateway.sim, sku)
        assert state["prices"] == {kit.US: str(newest(requests, sku, "price").price.amount)}
        assert state["quantity"] == newest(requests, sku, "quantity").quantity
    stats = (await gateway.sim.get("/_sim/stats")).json()
    assert stats["faults"]["errors"] > 0


async def test_failed_call_reported_kept_for_replay_and_consuming_goes_on(gateway_factory: Any, kit: Any) -> None:
    gateway = await gateway_factory()
    broken, fine = kit.new_skus(2)
    for sku in (broken, fine):
        await kit.seed_listing(gateway.sim, sku)
    await gateway.sim.post("/_sim/faults", json={"error_rate": 1.0, "error_statuses": [500],
                                                 "operations": ["patchListingsItem"]})
    first = kit.price_request(broken, "44.44", 1)
    await publish(gateway.bootstrap, [first])

    (error,) = await errors_for(gateway.bootstrap, first)
    assert (error.system, error.operation, error.code) == ("amazon", "patchListingsItem", "InternalFailure")
    assert error.attempts == gateway.service.settings.amazon_max_attempts
    assert (error.account_id, error.marketplace_id, error.region) == (kit.ACCOUNT_ID, kit.US, "na")
    await eventually(lambda: _status_is(gateway, first.event_id, "failed"), what="row failed")

    await gateway.sim.delete("/_sim/faults")
    later = kit.price_request(fine, "55.55", 2)
    await publish(gateway.bootstrap, [later])
    (result,) = await listing_results(gateway.bootstrap, [later])
    assert result.accepted
    assert (await kit.listing_state(gateway.sim, fine))["prices"] == {kit.US: "55.55"}
    assert (await kit.listing_state(gateway.sim, broken))["prices"] == {kit.US: "10.00"}

    async with httpx.AsyncClient(headers=auth_headers(), transport=httpx.ASGITransport(app=gateway.service.asgi()),
                                 base_url="http://gateway") as admin:
        assert (await admin.post("/replay")).json() == {"replayed": 1}
    (replayed,) = await listing_results(gateway.bootstrap, [first])
    assert replayed.accepted
    assert (await kit.listing_state(gateway.sim, broken))["prices"] == {kit.US: "44.44"}
    assert await gateway.status_of(first.event_id) == "done"


async def _status_is(gateway: Any, request_id: uuid.UUID, status: str) -> bool:
    return await gateway.status_of(request_id) == status


async def test_accepted_but_not_applied_is_sent_again(gateway_factory: Any, kit: Any) -> None:
    gateway = await gateway_factory(verify_attempts=8)
    await gateway.sim.post("/_sim/faults", json={"seed": 3, "drop_update_rate": 0.5,
                                                 "operations": ["patchListingsItem"]})
    skus = kit.new_skus(4)
    for sku in skus:
        await kit.seed_listing(gateway.sim, sku)
    requests = [kit.price_request(sku, f"6{i}.10", 1) for i, sku in enumerate(skus)]
    requests += [kit.quantity_request(sku, 7 + i, 1) for i, sku in enumerate(skus)]
    await publish(gateway.bootstrap, requests)

    results = await listing_results(gateway.bootstrap, requests)
    assert all(r.accepted for r in results) and len(results) == len(requests)
    for i, sku in enumerate(skus):
        state = await kit.listing_state(gateway.sim, sku)
        assert state["prices"] == {kit.US: f"6{i}.10"} and state["quantity"] == 7 + i
    stats = (await gateway.sim.get("/_sim/stats")).json()
    assert stats["faults"]["dropped_updates"] > 0
    assert stats["operations"]["patchListingsItem"]["200"] == len(skus) + stats["faults"]["dropped_updates"]


async def test_never_applied_update_fails_after_bounded_resends(gateway_factory: Any, kit: Any) -> None:
    gateway = await gateway_factory(verify_attempts=3)
    await gateway.sim.post("/_sim/faults", json={"drop_update_rate": 1.0})
    (sku,) = kit.new_skus(1)
    await kit.seed_listing(gateway.sim, sku)
    request = kit.price_request(sku, "77.70", 1)
    await publish(gateway.bootstrap, [request])

    (error,) = await errors_for(gateway.bootstrap, request)
    assert (error.operation, error.code, error.attempts) == ("patchListingsItem", "NotApplied", 3)
    await eventually(lambda: _status_is(gateway, request.event_id, "failed"), what="row failed")
    stats = (await gateway.sim.get("/_sim/stats")).json()
    assert stats["operations"]["patchListingsItem"]["200"] == 3


async def test_no_secret_in_events_or_logs(gateway_factory: Any, kit: Any, caplog: pytest.LogCaptureFixture) -> None:
    wrong_secret = "amzn1.oa2-cs.v1.wrongsecret555555"
    other = kit.gateway_account(account_id="acct-wrong", client_secret=wrong_secret,
                                refresh_token="Atzr|gw-other-refresh-999")
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        gateway = await gateway_factory(accounts=[kit.gateway_account(), other])
        ok_sku, failing_sku = kit.new_skus(2)
        await kit.seed_listing(gateway.sim, ok_sku)
        await kit.seed_listing(gateway.sim, failing_sku)
        await gateway.sim.post("/_sim/faults", json={"seed": 2, "error_rate": 0.3})
        good = kit.price_request(ok_sku, "12.34", 1)
        refused = kit.price_request(failing_sku, "23.45", 1, account_id="acct-wrong")
        await publish(gateway.bootstrap, [good, refused])
        await listing_results(gateway.bootstrap, [good])
        (error,) = await errors_for(gateway.bootstrap, refused)
        assert (error.operation, error.code) == ("lwaToken", "invalid_client")

    client = gateway.service.client  # type: ignore[attr-defined]
    access_token = client.tokens.get(kit.ACCOUNT_ID, time.monotonic())
    assert access_token and access_token.startswith("Atza|")
    secrets = [kit.CLIENT_SECRET, kit.REFRESH_TOKEN, wrong_secret, "Atzr|gw-other-refresh-999", access_token]

    emitted = b""
    for topic in (topics.LISTING_UPDATE_RESULTS, topics.COMMUNICATION_ERRORS):
        emitted += b"".join(r.value for r in await _all(gateway.bootstrap, topic.name))
    logged = json.dumps(logs, default=str) + caplog.text
    assert logs, "the gateway logged nothing"
    for secret in secrets:
        assert secret.encode() not in emitted
        assert secret not in logged


async def _all(bootstrap: str, topic: str) -> list[Any]:
    """Everything on the topic so far (reads until two empty polls)."""
    seen: list[int] = []

    def settled(records: list[Any]) -> bool:
        seen.append(len(records))
        return len(seen) > 3 and seen[-1] == seen[-3] and seen[-1] > 0

    return await read_topic(bootstrap, topic, until=settled, timeout=30)


async def test_unreadable_answers_fail_the_row_not_the_service(gateway_factory: Any, kit: Any) -> None:
    gateway = await gateway_factory(verify_attempts=1)
    await gateway.sim.post("/_sim/faults", json={"malformed_rate": 1.0, "malformed_kinds": ["schema"],
                                                 "operations": ["getListingsItem"]})
    garbled, fine = kit.new_skus(2)
    for sku in (garbled, fine):
        await kit.seed_listing(gateway.sim, sku)
    first = kit.price_request(garbled, "81.00", 1)
    await publish(gateway.bootstrap, [first])
    (error,) = await errors_for(gateway.bootstrap, first)
    assert error.operation == "patchListingsItem" and error.code in ("UnexpectedResponse", "NotApplied")
    await eventually(lambda: _status_is(gateway, first.event_id, "failed"), what="row failed")

    await gateway.sim.delete("/_sim/faults")
    later = kit.price_request(fine, "82.00", 2)
    await publish(gateway.bootstrap, [later])
    (result,) = await listing_results(gateway.bootstrap, [later])
    assert result.accepted
